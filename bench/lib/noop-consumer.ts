/**
 * P5's reference: the event source mapping's own ceiling on this emulator. A no-op function (`bench/noop/handler.ts`,
 * which only counts what it consumed) is deployed into the running stack, with a mapping on the stack's own stream of
 * the same settings as the aggregator's (read from the deployed mapping), while the aggregator's mapping is disabled.
 * Both consumers are then timed draining the same backlog (see {@link measureDrains}).
 *
 * Why a drain, not a rate from the first put: timed from the first put, both figures measured the producer, which the
 * emulator serves in the same process as the consumer's requests (a pipeline batch's hundreds of DynamoDB calls
 * slowed the puts threefold), not what the consumer can take. Why the stack's own stream and not a second deployment
 * of the stack: the same stream carries the same load beside the consumer (the raw archive's Firehose reads it too),
 * and copying the mapping's settings from the live one keeps them the same by construction, without deploying every
 * resource twice per bench run.
 */
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand, DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateStreamCommand, DeleteStreamCommand, DescribeStreamSummaryCommand, PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  type LambdaClient,
  UpdateEventSourceMappingCommand,
  CreateEventSourceMappingCommand,
  CreateFunctionCommand,
  DeleteEventSourceMappingCommand,
  DeleteFunctionCommand,
  GetFunctionConfigurationCommand,
  ListEventSourceMappingsCommand,
  type EventSourceMappingConfiguration,
} from '@aws-sdk/client-lambda';
import { build } from 'esbuild';
import type { AwsClients } from '../../scripts/lib/aws-target';
import { Producer } from '../../scripts/lib/producer';
import type { StackOutputs } from '../../scripts/lib/stack-outputs';
import type { GeneratedRecord } from '../../scripts/workload';
import { sleep } from './stats';
import { ROOT } from './workload';

/** The mapping settings copied from the aggregator's mapping (everything that shapes what a poll delivers). */
export type MappingSettings = Pick<
  EventSourceMappingConfiguration,
  'BatchSize' | 'StartingPosition' | 'MaximumBatchingWindowInSeconds' | 'ParallelizationFactor' | 'FunctionResponseTypes' | 'BisectBatchOnFunctionError'
>;

/** A one-file zip archive (deflated), enough for a Lambda code package. */
export function zipOneFile(name: string, content: Buffer): Buffer {
  const data = deflateRawSync(content);
  const nameBytes = Buffer.from(name);
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(0, 6);
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt32LE(0, 10); // time, date
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(0, 12);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  central.writeUInt32LE(0, 30); // extra and comment lengths
  central.writeUInt32LE(0, 34); // disk number, internal attributes
  central.writeUInt32LE(0, 38); // external attributes
  central.writeUInt32LE(0, 42); // offset of the local header
  const centralOffset = local.length + nameBytes.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + nameBytes.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, nameBytes, data, central, nameBytes, end]);
}

/** The no-op handler bundled with its SDK client (the emulator's stub SDK would silently do nothing). */
async function bundleNoop(): Promise<Buffer> {
  const res = await build({
    entryPoints: [join(ROOT, 'bench', 'noop', 'handler.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    write: false,
    mainFields: ['module', 'main'],
    logLevel: 'silent',
  });
  return zipOneFile('index.js', Buffer.from(res.outputFiles[0].contents));
}

/** The aggregator's mapping (its id and the settings copied to the no-op's), as deployed. */
export async function aggregatorMapping(clients: AwsClients, outputs: StackOutputs): Promise<MappingSettings & { UUID: string }> {
  const res = await clients.lambda.send(new ListEventSourceMappingsCommand({ FunctionName: outputs.AggregatorFunctionName }));
  const m = (res.EventSourceMappings ?? []).find((e) => e.EventSourceArn === outputs.StreamArn) ?? res.EventSourceMappings?.[0];
  if (!m?.UUID) throw new Error(`no event source mapping on ${outputs.AggregatorFunctionName}`);
  return {
    UUID: m.UUID,
    BatchSize: m.BatchSize,
    StartingPosition: m.StartingPosition,
    MaximumBatchingWindowInSeconds: m.MaximumBatchingWindowInSeconds,
    ParallelizationFactor: m.ParallelizationFactor,
    FunctionResponseTypes: m.FunctionResponseTypes,
    BisectBatchOnFunctionError: m.BisectBatchOnFunctionError,
  };
}

/** The stream's open shards: each is polled by its own consumer of a mapping. */
export async function openShards(clients: AwsClients, streamName: string): Promise<number> {
  return (await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName }))).StreamDescriptionSummary?.OpenShardCount ?? 1;
}

/**
 * How often the drains look whether everything was consumed, so that both are timed to the same resolution. 50 ms,
 * not 200: the no-op's whole drain is a few hundred milliseconds, and a probe is one small request to the emulator.
 */
export const DRAIN_POLL_MS = 50;

/** Polls `check` every `everyMs` until it holds; throws after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>, everyMs = DRAIN_POLL_MS): Promise<void> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error(`P5 drain: ${what} in time`);
    await sleep(everyMs);
  }
}

/** What a drain measured: records consumed from a backlog, from enabling the mapping until all were consumed. */
export interface Drain {
  readonly records: number;
  readonly ms: number;
  readonly rate: number;
}

/** Both drains of {@link measureDrains}. */
export interface Drains {
  /** The no-op consumer, and how many batches it was invoked with. */
  readonly noop: Drain & { readonly batches: number };
  /** The pipeline, until its aggregates count every valid event. */
  readonly pipeline: Drain;
  /** Time to put the backlog (both mappings disabled). */
  readonly producedMs: number;
  readonly settings: MappingSettings;
  readonly shards: number;
}

async function setEnabled(lambda: LambdaClient, uuid: string, enabled: boolean): Promise<void> {
  await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: enabled }));
}

/**
 * Puts records with the {@link Producer}, as the pipeline's producers do. Returns the last sequence number put to each
 * shard (sequence numbers grow within a shard), so that a drain can tell when a consumer has passed all of them.
 */
export async function putAll(clients: AwsClients, streamName: string, records: readonly GeneratedRecord[]): Promise<Map<string, string>> {
  const last = new Map<string, string>();
  const producer = new Producer(clients.kinesis, {
    streamName,
    // Full calls: kept in order, 50 devices' records would go out ~50 to a call, and the emulator's PutRecords scans
    // the whole shard on every call. Nothing here depends on the order (the drains only count).
    ordered: false,
    onDelivered: (_r, { shardId, sequenceNumber }) => {
      const seen = last.get(shardId);
      if (seen === undefined || BigInt(sequenceNumber) > BigInt(seen)) last.set(shardId, sequenceNumber);
    },
  });
  for (const r of records) await producer.put(r);
  await producer.close();
  return last;
}

/**
 * Measures both drains of one backlog on the stack's stream:
 *
 * 1. the aggregator's mapping is disabled (a batch in flight finishes first);
 * 2. the no-op function gets a mapping of the same settings from TRIM_HORIZON, and is left to consume the stream's
 *    history until its count stops moving; then its mapping is disabled too;
 * 3. `records` are put with the {@link Producer};
 * 4. the no-op's mapping is enabled (and the emulator's poller woken, see `wakePoller`): timed until it has counted every record; its mapping and function are removed;
 * 5. the aggregator's mapping is enabled (the poller woken alike): timed until `pipelineDrained` says the pipeline has applied every record
 *    (given the last sequence number put to each shard). The probe must be as cheap as the no-op's one GetItem: every
 *    request it makes is served by the same emulator process as the pipeline's own (counting the device aggregates
 *    took 50 Queries a poll, about a third of the emulator's time during the drain). The caller checks the
 *    aggregates' counts once the drain is timed.
 *
 * The aggregator's mapping is enabled again whatever happens.
 */
export async function measureDrains(
  clients: AwsClients,
  endpoint: string,
  outputs: StackOutputs,
  records: readonly GeneratedRecord[],
  pipelineDrained: (lastSequenceByShard: ReadonlyMap<string, string>) => Promise<boolean>,
  timeoutMs: number,
): Promise<Drains> {
  const { UUID: aggregatorMappingId, ...settings } = await aggregatorMapping(clients, outputs);
  const fnConfig = await clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: outputs.AggregatorFunctionName }));
  const shards = await openShards(clients, outputs.StreamName);
  const id = `bench-noop-${Date.now().toString(36)}`;
  const ddb = new DynamoDBClient({ endpoint, region: await clients.kinesis.config.region(), credentials: await clients.kinesis.config.credentials() });
  let noopMappingId: string | undefined;
  let functionCreated = false;
  // The emulator's poller sleeps up to a second between idle passes, and enabling a mapping does not wake it; a put to
  // any Kinesis stream does. Both drains put one record to a stream of their own right after enabling their mapping,
  // so that neither window carries a random 0-1 s wait for the next idle pass (it was most of the no-op's window).
  const wakeStream = `${id}-wake`;
  const wakePoller = () => clients.kinesis.send(new PutRecordCommand({ StreamName: wakeStream, PartitionKey: 'wake', Data: new Uint8Array([0]) }));
  await setEnabled(clients.lambda, aggregatorMappingId, false);
  try {
    await clients.kinesis.send(new CreateStreamCommand({ StreamName: wakeStream, ShardCount: 1 }));
    await until('wake stream active', timeoutMs, async () => (await clients.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: wakeStream }))).StreamDescriptionSummary?.StreamStatus === 'ACTIVE');
    await ddb.send(
      new CreateTableCommand({ TableName: id, BillingMode: 'PAY_PER_REQUEST', AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }], KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }] }),
    );
    await until('scratch table active', timeoutMs, async () => (await ddb.send(new DescribeTableCommand({ TableName: id }))).Table?.TableStatus === 'ACTIVE');
    await clients.lambda.send(
      new CreateFunctionCommand({
        FunctionName: id,
        Runtime: fnConfig.Runtime,
        Architectures: fnConfig.Architectures,
        MemorySize: fnConfig.MemorySize,
        Timeout: fnConfig.Timeout,
        Role: fnConfig.Role,
        Handler: 'index.handler',
        Code: { ZipFile: await bundleNoop() },
        Environment: { Variables: { COUNT_TABLE: id } },
      }),
    );
    functionCreated = true;
    const consumed = async () => {
      const item = (await ddb.send(new GetItemCommand({ TableName: id, Key: { pk: { S: 'consumed' } }, ConsistentRead: true }))).Item;
      return { n: Number(item?.n?.N ?? 0), batches: Number(item?.batches?.N ?? 0) };
    };
    noopMappingId = (
      await clients.lambda.send(
        new CreateEventSourceMappingCommand({ FunctionName: id, EventSourceArn: outputs.StreamArn, Enabled: true, ...settings, StartingPosition: 'TRIM_HORIZON' }),
      )
    ).UUID!;
    // The stream's history (earlier runs) first; then the mapping is disabled, and the count must hold still for 3 s
    // (a batch already handed to the function finishes first, and on a loaded machine a 10,000-record one takes a while).
    const settled = async (what: string) => {
      let seen = -1;
      let still = 0;
      await until(what, timeoutMs * 4, async () => {
        const n = (await consumed()).n;
        still = n === seen ? still + 1 : 0;
        seen = n;
        return still >= 12;
      }, 250);
    };
    await settled('the stream history consumed');
    await setEnabled(clients.lambda, noopMappingId, false);
    await settled('the no-op mapping settled after disabling');
    const history = await consumed();
    const t0 = performance.now();
    const lastByShard = await putAll(clients, outputs.StreamName, records);
    const producedMs = performance.now() - t0;
    if ((await consumed()).n !== history.n) throw new Error('the no-op mapping consumed while disabled');

    let start = performance.now();
    await setEnabled(clients.lambda, noopMappingId, true);
    await wakePoller();
    await until(`${records.length} records consumed by the no-op`, timeoutMs, async () => (await consumed()).n - history.n >= records.length);
    let ms = performance.now() - start;
    const after = await consumed();
    const noop = { records: records.length, ms, rate: (records.length * 1000) / ms, batches: after.batches - history.batches };
    await clients.lambda.send(new DeleteEventSourceMappingCommand({ UUID: noopMappingId }));
    noopMappingId = undefined;

    start = performance.now();
    await setEnabled(clients.lambda, aggregatorMappingId, true);
    await wakePoller();
    await until(`${records.length} records applied by the pipeline`, timeoutMs, () => pipelineDrained(lastByShard));
    ms = performance.now() - start;
    const pipeline = { records: records.length, ms, rate: (records.length * 1000) / ms };
    return { noop, pipeline, producedMs, settings, shards };
  } finally {
    await setEnabled(clients.lambda, aggregatorMappingId, true).catch(() => undefined);
    if (noopMappingId) await clients.lambda.send(new DeleteEventSourceMappingCommand({ UUID: noopMappingId })).catch(() => undefined);
    if (functionCreated) await clients.lambda.send(new DeleteFunctionCommand({ FunctionName: id })).catch(() => undefined);
    await ddb.send(new DeleteTableCommand({ TableName: id })).catch(() => undefined);
    await clients.kinesis.send(new DeleteStreamCommand({ StreamName: wakeStream, EnforceConsumerDeletion: true })).catch(() => undefined);
  }
}
