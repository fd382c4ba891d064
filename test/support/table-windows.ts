import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { HyperLogLog } from '../../lambda/domain/hyperloglog';
import { QuantileSketch } from '../../lambda/domain/quantile-sketch';
import type { AggregationSpec } from '../../lambda/domain/spec';
import { TopKSketch, type TopKItem } from '../../lambda/domain/top-k';
import { windowIdentity, type ReferenceWindow } from './reference';
import { keyWindowIdentity } from './key-window-reference';

/** A window as the table holds it, read with the documented item layout rather than the aggregator's code. */
export interface TableWindow extends Omit<ReferenceWindow, 'measures'> {
  /** Numbers, and each topK measure's items. */
  readonly measures: Record<string, number | null | TopKItem[]>;
  readonly version: number;
  readonly final: boolean;
  readonly pending: boolean;
}

/** Every item of the table, page by page. */
export async function scanTable(doc: DynamoDBDocumentClient, tableName: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const res = await doc.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }));
    items.push(...(res.Items ?? []));
    startKey = res.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** The windows whose key has a value starting with `keyPrefix` (one test run's), by window identity. */
export async function readTableWindows(
  doc: DynamoDBDocumentClient,
  tableName: string,
  spec: AggregationSpec,
  keyPrefix: string,
): Promise<Map<string, TableWindow>> {
  const out = new Map<string, TableWindow>();
  for (const item of await scanTable(doc, tableName)) {
    const key = item.key as Record<string, unknown> | undefined;
    if (!item.agg || !key || !Object.values(key).some((v) => String(v).startsWith(keyPrefix))) continue;
    const agg = spec.aggregations.find((a) => a.name === item.agg);
    // A session or stagger aggregation's key item holds all of the key's windows (see readTableKeyWindows).
    if (!agg || item.sk === KEY_WINDOWS_SK) continue;
    const measures = decodeMeasures(agg, item.m as Record<string, unknown>);
    const w: TableWindow = {
      aggregation: item.agg as string,
      key,
      windowStart: String(item.ws),
      windowEnd: String(item.we),
      measures,
      version: Number(item.v),
      final: Number(item.v) > 0,
      pending: item.pendingAgg !== undefined,
    };
    out.set(windowIdentity(w), w);
  }
  return out;
}

function decodeMeasures(agg: AggregationSpec['aggregations'][number], m: Record<string, unknown>): Record<string, number | null | TopKItem[]> {
  const measures: Record<string, number | null | TopKItem[]> = {};
  for (const def of agg.measures) {
    const v = m[def.name] as number | { s: number; c: number } | { hll: string } | { dd: string } | { tk: string } | null;
    // Numbers a DynamoDB number cannot hold exactly are stored as their decimal text (see StoredNumber).
    if (def.op === 'avg') measures[def.name] = Number((v as { s: number; c: number }).s) / Number((v as { s: number; c: number }).c);
    else if (def.op === 'distinct') measures[def.name] = Math.round(HyperLogLog.decode((v as { hll: string }).hll).estimate());
    else if (def.op === 'topK') measures[def.name] = TopKSketch.decode((v as { tk: string }).tk).top(def.k);
    else if (def.op === 'percentile') measures[def.name] = QuantileSketch.decode((v as { dd: string }).dd, def.relativeAccuracy).quantile(def.quantile);
    else measures[def.name] = v === null ? null : Number(v);
  }
  return measures;
}

/** The sort key of a key's session/stagger window item (lambda/adapters/dynamodb-key-window-store.ts). */
const KEY_WINDOWS_SK = 'key-windows';

/** A session or stagger window as its key's item holds it. */
export interface TableKeyWindow extends Omit<ReferenceWindow, 'measures'> {
  /** Numbers, and each topK measure's items. */
  readonly measures: Record<string, number | null | TopKItem[]>;
  readonly sessionId: string;
  readonly version: number;
  readonly emitted: number;
}

/**
 * The session and stagger windows of keys with a value starting with `keyPrefix`, by {@link keyWindowIdentity}, read
 * with the documented item layout (`kw`: a list of `{i: id, s: start, e: end, m: measures, v: version, x: emitted}`).
 */
export async function readTableKeyWindows(
  doc: DynamoDBDocumentClient,
  tableName: string,
  spec: AggregationSpec,
  keyPrefix: string,
): Promise<Map<string, TableKeyWindow>> {
  const out = new Map<string, TableKeyWindow>();
  for (const item of await scanTable(doc, tableName)) {
    const key = item.key as Record<string, unknown> | undefined;
    if (item.sk !== KEY_WINDOWS_SK || !key || !Object.values(key).some((v) => String(v).startsWith(keyPrefix))) continue;
    const agg = spec.aggregations.find((a) => a.name === item.agg);
    if (!agg) continue;
    for (const w of item.kw as { i: string; s: number; e: number; m: Record<string, unknown>; v: number; x: number }[]) {
      const tw: TableKeyWindow = {
        aggregation: agg.name,
        key,
        windowStart: new Date(Number(w.s)).toISOString(),
        windowEnd: new Date(Number(w.e)).toISOString(),
        measures: decodeMeasures(agg, w.m),
        sessionId: w.i,
        version: Number(w.v),
        emitted: Number(w.x),
      };
      out.set(keyWindowIdentity(tw), tw);
    }
  }
  return out;
}

/** Every shard's persisted watermark. */
export async function readWatermarks(doc: DynamoDBDocumentClient, tableName: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  // A lane whose batches have all failed so far has an item (its last batch time) but no watermark yet.
  for (const item of await scanTable(doc, tableName)) if (String(item.pk).startsWith('lanes#') && item.wm !== undefined) out.set(String(item.sk), Number(item.wm));
  return out;
}
