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
import { ENV } from '../../lambda/contract/env';
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

/**
 * The consumers timed beside the pipeline, each a function of its own under `bench/noop/`, in the order they drain:
 * - `noop` counts what it is given: the reference, what the event source mapping itself delivers;
 * - `floor` computes P1's floor over each batch (the demo spec by hand, no state read or written) and counts: the most
 *   any aggregator of the spec can drain, so the highest P5 there is on this emulator.
 */
export const CONSUMERS = { noop: 'handler.ts', floor: 'floor-handler.ts' } as const;
/** @see CONSUMERS */
export type ConsumerName = keyof typeof CONSUMERS;

/** A consumer's handler bundled with its SDK client (the emulator's stub SDK would silently do nothing). */
async function bundleConsumer(name: ConsumerName): Promise<Buffer> {
  const res = await build({
    entryPoints: [join(ROOT, 'bench', 'noop', CONSUMERS[name])],
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

/** A consumer's drain: how many batches it was invoked with, and the windows it fired (the floor's). */
export type ConsumerDrain = Drain & { readonly batches: number; readonly fired: number };

/** The drains of {@link measureDrains}. */
export interface Drains {
  /** The no-op consumer. */
  readonly noop: ConsumerDrain;
  /** The floor consumer. */
  readonly floor: ConsumerDrain;
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
 * Measures the drains of one backlog on the stack's stream:
 *
 * 1. the aggregator's mapping is disabled (a batch in flight finishes first);
 * 2. each of the {@link CONSUMERS} gets a function and a mapping of the same settings from TRIM_HORIZON, and is left to
 *    consume the stream's history until the counts stop moving (which also compiles their hot paths); then their
 *    mappings are disabled too;
 * 3. `records` are put with the {@link Producer};
 * 4. each consumer in turn: its mapping is enabled (and the emulator's poller woken, see `wakePoller`), timed until it
 *    has counted every record, and removed;
 * 5. the aggregator's mapping is enabled (the poller woken alike): timed until `pipelineDrained` says the pipeline has applied every record
 *    (given the last sequence number put to each shard). The probe must be as cheap as the consumers' one GetItem: every
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
  const specJson = fnConfig.Environment?.Variables?.[ENV.aggregationSpec];
  if (!specJson) throw new Error(`P5: the aggregator's environment has no ${ENV.aggregationSpec}`);
  const shards = await openShards(clients, outputs.StreamName);
  const id = `bench-noop-${Date.now().toString(36)}`;
  const names = Object.keys(CONSUMERS) as ConsumerName[];
  const ddb = new DynamoDBClient({ endpoint, region: await clients.kinesis.config.region(), credentials: await clients.kinesis.config.credentials() });
  const mappings = new Map<ConsumerName, string>();
  const functions: string[] = [];
  // The emulator's poller sleeps up to a second between idle passes, and enabling a mapping does not wake it; a put to
  // any Kinesis stream does. Every drain puts one record to a stream of its own right after enabling its mapping,
  // so that no window carries a random 0-1 s wait for the next idle pass (it was most of the no-op's window).
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
    for (const name of names) {
      const fn = `${id}-${name}`;
      await clients.lambda.send(
        new CreateFunctionCommand({
          FunctionName: fn,
          Runtime: fnConfig.Runtime,
          Architectures: fnConfig.Architectures,
          MemorySize: fnConfig.MemorySize,
          Timeout: fnConfig.Timeout,
          Role: fnConfig.Role,
          Handler: 'index.handler',
          Code: { ZipFile: await bundleConsumer(name) },
          Environment: { Variables: { COUNT_TABLE: id, COUNT_KEY: name, ...(name === 'floor' ? { [ENV.aggregationSpec]: specJson } : {}) } },
        }),
      );
      functions.push(fn);
      const mapping = await clients.lambda.send(
        new CreateEventSourceMappingCommand({ FunctionName: fn, EventSourceArn: outputs.StreamArn, Enabled: true, ...settings, StartingPosition: 'TRIM_HORIZON' }),
      );
      mappings.set(name, mapping.UUID!);
    }
    const consumed = async (name: ConsumerName) => {
      const item = (await ddb.send(new GetItemCommand({ TableName: id, Key: { pk: { S: name } }, ConsistentRead: true }))).Item;
      return { n: Number(item?.n?.N ?? 0), batches: Number(item?.batches?.N ?? 0), fired: Number(item?.fired?.N ?? 0) };
    };
    const total = async () => (await Promise.all(names.map(consumed))).map((c) => c.n).join(',');
    // The stream's history (earlier runs) first; then the mappings are disabled, and the counts must hold still for
    // 3 s (a batch already handed to a function finishes first, and on a loaded machine a 10,000-record one takes a
    // while).
    const settled = async (what: string) => {
      let seen = '';
      let still = 0;
      await until(what, timeoutMs * 4, async () => {
        const n = await total();
        still = n === seen ? still + 1 : 0;
        seen = n;
        return still >= 12;
      }, 250);
    };
    await settled('the stream history consumed');
    for (const uuid of mappings.values()) await setEnabled(clients.lambda, uuid, false);
    await settled('the consumers settled after disabling');
    const history = new Map(await Promise.all(names.map(async (name) => [name, await consumed(name)] as const)));
    const t0 = performance.now();
    const lastByShard = await putAll(clients, outputs.StreamName, records);
    const producedMs = performance.now() - t0;
    if ((await total()) !== [...history.values()].map((c) => c.n).join(',')) throw new Error('a consumer consumed while its mapping was disabled');

    const drained = new Map<ConsumerName, ConsumerDrain>();
    for (const name of names) {
      const uuid = mappings.get(name)!;
      const before = history.get(name)!;
      const start = performance.now();
      await setEnabled(clients.lambda, uuid, true);
      await wakePoller();
      await until(`${records.length} records consumed by the ${name} consumer`, timeoutMs, async () => (await consumed(name)).n - before.n >= records.length);
      const ms = performance.now() - start;
      const after = await consumed(name);
      drained.set(name, { records: records.length, ms, rate: (records.length * 1000) / ms, batches: after.batches - before.batches, fired: after.fired - before.fired });
      await clients.lambda.send(new DeleteEventSourceMappingCommand({ UUID: uuid }));
      mappings.delete(name);
    }

    const start = performance.now();
    await setEnabled(clients.lambda, aggregatorMappingId, true);
    await wakePoller();
    await until(`${records.length} records applied by the pipeline`, timeoutMs, () => pipelineDrained(lastByShard));
    const ms = performance.now() - start;
    const pipeline = { records: records.length, ms, rate: (records.length * 1000) / ms };
    return { noop: drained.get('noop')!, floor: drained.get('floor')!, pipeline, producedMs, settings, shards };
  } finally {
    await setEnabled(clients.lambda, aggregatorMappingId, true).catch(() => undefined);
    for (const uuid of mappings.values()) await clients.lambda.send(new DeleteEventSourceMappingCommand({ UUID: uuid })).catch(() => undefined);
    for (const fn of functions) await clients.lambda.send(new DeleteFunctionCommand({ FunctionName: fn })).catch(() => undefined);
    await ddb.send(new DeleteTableCommand({ TableName: id })).catch(() => undefined);
    await clients.kinesis.send(new DeleteStreamCommand({ StreamName: wakeStream, EnforceConsumerDeletion: true })).catch(() => undefined);
  }
}
