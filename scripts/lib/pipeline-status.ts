import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ATTR, LANES_PK } from '../../lambda/adapters/dynamodb-window-store';
import type { CompiledSpec } from '../../lambda/domain/compiled-spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import type { AwsClients } from './aws-target';
import { NdjsonPrefixReader } from './s3-sinks';
import type { StackOutputs } from './stack-outputs';
import { windowResultsOfItems } from './window-results';

/** A snapshot of what the pipeline has done, read from its state table and sinks. */
export interface PipelineSnapshot {
  /**
   * Valid events aggregated, counted by the first aggregation with a `count` measure that puts each event in exactly
   * one window (tumbling, session or stagger); undefined when the spec has none.
   */
  readonly processed: number | undefined;
  readonly invalid: number;
  readonly late: number;
  /** Windows of every aggregation and layout, open or fired. */
  readonly windows: number;
  /** The watermark of each shard, epoch ms. */
  readonly watermarks: ReadonlyMap<string, number>;
  /** The latest fired windows, newest first. */
  readonly latest: readonly WindowResult[];
}

/** Reads pipeline snapshots; keeps S3 readers between calls so that each sink object is fetched once. */
export class PipelineStatusReader {
  private readonly errors: NdjsonPrefixReader;
  private readonly late: NdjsonPrefixReader;
  private readonly counter: { aggregation: string; measure: string } | undefined;

  constructor(
    private readonly clients: AwsClients,
    private readonly outputs: StackOutputs,
    private readonly spec: CompiledSpec,
  ) {
    this.errors = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ErrorsPrefix);
    this.late = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.LatePrefix);
    const agg = spec.allAggregations.find((a) => (a.keyRule !== undefined || a.assigner.windowsPerEvent === 1) && a.def.measures.some((m) => m.op === 'count'));
    this.counter = agg && { aggregation: agg.name, measure: agg.def.measures.find((m) => m.op === 'count')!.name };
  }

  async snapshot(latestCount = 8): Promise<PipelineSnapshot> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const res = await this.clients.doc.send(new ScanCommand({ TableName: this.outputs.WindowTableName, ExclusiveStartKey: startKey }));
      items.push(...(res.Items ?? []));
      startKey = res.LastEvaluatedKey;
    } while (startKey);

    let processed = this.counter ? 0 : undefined;
    const watermarks = new Map<string, number>();
    for (const item of items) {
      if (String(item[ATTR.pk]).startsWith(`${LANES_PK}#`)) watermarks.set(String(item[ATTR.sk]), Number(item[ATTR.watermark]));
    }
    const results = windowResultsOfItems(this.spec, items);
    const fired: WindowResult[] = [];
    for (const result of results) {
      if (this.counter && result.aggregation === this.counter.aggregation) processed! += Number(result.measures[this.counter.measure] ?? 0);
      if (result.final) fired.push(result);
    }
    fired.sort((a, b) => b.windowEnd.localeCompare(a.windowEnd) || JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
    const [errors, late] = await Promise.all([this.errors.readAll(), this.late.readAll()]);
    const lateRecords = new Set(late.map((l) => JSON.stringify([(l as Record<string, unknown>).shardId, (l as Record<string, unknown>).sequenceNumber, (l as Record<string, unknown>).subSequenceNumber])));
    return { processed, invalid: errors.length, late: lateRecords.size, windows: results.length, watermarks, latest: fired.slice(0, latestCount) };
  }
}
