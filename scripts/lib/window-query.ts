import { QueryCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ATTR, windowPk, windowSk } from '../../lambda/adapters/dynamodb-window-store';
import { KEY_WINDOWS_SK } from '../../lambda/adapters/dynamodb-key-window-store';
import type { CompiledAggregation, CompiledSpec } from '../../lambda/domain/compiled-spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import { QueryError } from './errors';
import { windowResultsOfItems } from './window-results';

export { QueryError };

/** What to read from the window-state table. */
export interface WindowQuery {
  readonly aggregation: string;
  /** Group-by field → value (as text; numbers and booleans are matched by their text too). */
  readonly key?: Readonly<Record<string, string>>;
  /** Windows starting at or after this instant (epoch ms). */
  readonly from?: number;
  /** Windows starting before this instant (epoch ms). */
  readonly to?: number;
}

/** Checks a query against the spec, naming the valid aggregations or fields in the error. */
export function validateQuery(spec: CompiledSpec, q: WindowQuery): void {
  const agg = aggregationNamed(spec, q.aggregation);
  if (!agg) {
    throw new QueryError(`Unknown aggregation "${q.aggregation}". Valid aggregations: ${spec.allAggregations.map((a) => a.name).join(', ')}`);
  }
  const fields = agg.groupBy.map((g) => g.field);
  for (const f of Object.keys(q.key ?? {})) {
    if (!fields.includes(f)) {
      throw new QueryError(`Unknown key field "${f}" for aggregation "${q.aggregation}". Valid fields: ${fields.join(', ')}`);
    }
  }
}

/**
 * Reads window results from the window-state table. A key naming every group-by field is a Query on one partition;
 * anything less scans the table, filtered by aggregation (fine for a tool, not for a hot path).
 */
export async function queryWindows(
  doc: DynamoDBDocumentClient,
  tableName: string,
  spec: CompiledSpec,
  q: WindowQuery,
): Promise<WindowResult[]> {
  validateQuery(spec, q);
  const agg = aggregationNamed(spec, q.aggregation)!;
  const key = q.key ?? {};
  const items: Record<string, unknown>[] = [];
  // A per-shard root has a partition per window: its key alone does not name one, so those are scanned for.
  const fullKey = !agg.perShard && agg.groupBy.every((g) => key[g.field] !== undefined);
  let startKey: Record<string, unknown> | undefined;
  do {
    if (fullKey) {
      const candidates = keyJsonCandidates(agg.groupBy.map((g) => key[g.field]));
      for (const keyJson of candidates) {
        const res = await doc.send(
          new QueryCommand({
            TableName: tableName,
            KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
            ExpressionAttributeNames: { '#pk': ATTR.pk, '#sk': ATTR.sk },
            // A session or stagger aggregation keeps all of a key's windows in the key's one item.
            ExpressionAttributeValues: agg.keyRule
              ? { ':pk': windowPk(agg.name, keyJson), ':from': KEY_WINDOWS_SK, ':to': KEY_WINDOWS_SK }
              : {
                  ':pk': windowPk(agg.name, keyJson),
                  ':from': windowSk(q.from ?? 0),
                  ':to': windowSk(Math.min(q.to ?? 253_402_300_799_999, 253_402_300_799_999)),
                },
          }),
        );
        items.push(...(res.Items ?? []));
      }
      startKey = undefined;
    } else {
      const res = await doc.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: '#agg = :agg',
          ExpressionAttributeNames: { '#agg': ATTR.aggregation },
          ExpressionAttributeValues: { ':agg': agg.name },
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(res.Items ?? []));
      startKey = res.LastEvaluatedKey;
    }
  } while (startKey);

  const results = windowResultsOfItems(spec, items).filter((r) => {
    const start = Date.parse(r.windowStart);
    if (r.aggregation !== agg.name || (q.from !== undefined && start < q.from) || (q.to !== undefined && start >= q.to)) return false;
    return Object.entries(key).every(([f, v]) => String(r.key[f]) === v);
  });
  return results.sort((a, b) => a.windowStart.localeCompare(b.windowStart) || JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
}

/** An aggregation of any window type by name. */
function aggregationNamed(spec: CompiledSpec, name: string): CompiledAggregation | undefined {
  return spec.allAggregations.find((a) => a.name === name);
}

/** A key value typed on the command line may have been a string, a number or a boolean in the events. */
function keyJsonCandidates(values: string[]): string[] {
  let out: unknown[][] = [[]];
  for (const v of values) {
    const typed: unknown[] = [v];
    if (v !== '' && Number.isFinite(Number(v))) typed.push(Number(v));
    if (v === 'true' || v === 'false') typed.push(v === 'true');
    out = out.flatMap((prefix) => typed.map((t) => [...prefix, t]));
  }
  return out.map((vals) => JSON.stringify(vals));
}

/** Renders results as an aligned text table. */
export function formatResultsTable(results: readonly WindowResult[]): string {
  if (results.length === 0) return '(no windows)';
  const measureNames = [...new Set(results.flatMap((r) => Object.keys(r.measures)))];
  const topKNames = [...new Set(results.flatMap((r) => Object.keys(r.topK ?? {})))];
  const header = ['window start', 'window end', 'key', ...measureNames, ...topKNames, 'final', 'version'];
  const rows = results.map((r) => [
    r.windowStart.replace('.000Z', 'Z'),
    r.windowEnd.replace('.000Z', 'Z'),
    Object.entries(r.key).map(([k, v]) => `${k}=${v}`).join(','),
    ...measureNames.map((m) => formatNumber(r.measures[m])),
    // value:count, most frequent first; a count may be up to `error` short (shown once, as ±).
    ...topKNames.map((m) => {
      const items = r.topK?.[m] ?? [];
      const list = items.map((x) => `${JSON.stringify(x.value)}:${x.count}`).join(',') || '-';
      return items[0]?.error ? `${list} (+≤${items[0].error})` : list;
    }),
    r.final ? 'yes' : 'no',
    String(r.version),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatNumber(v: number | null | undefined): string {
  if (v === null || v === undefined) return '-';
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}
