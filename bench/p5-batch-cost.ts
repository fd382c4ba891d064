/**
 * Where a P5 pipeline batch's time goes: the deployed stack's bundled aggregator (the asset `cdk deploy` shipped, the
 * code the emulator runs), loaded in this process with the deployed function's environment, fed batches shaped as
 * P5's drain delivers them (20,000 fresh records of the bench workload, split over 4 lanes by the partition key's
 * MD5 as Kinesis splits them, so about 5,000 a batch), against the emulator at AWS_ENDPOINT_URL. Per batch: wall
 * clock, this process's CPU (handler and SDK clients: nothing else runs during the call), the emulator's CPU (from
 * /proc), the requests made, by operation, and each request's start and end (the batch's critical path). Not a figure
 * of `npm run bench`: a bench-only tool.
 *
 *   AWS_ENDPOINT_URL=http://127.0.0.1:4568 npx tsx bench/p5-batch-cost.ts [rounds] [emulator pid]
 *
 * Run it after `npm run bench -- P5` (or `npm start`) deployed the local stack (P5_COST_BUNDLE=<index.js> runs another
 * build of the aggregator against it, e.g. an earlier commit's, for a before/after); add `--cpu-prof` to NODE_OPTIONS for a
 * profile (`node --cpu-prof --import tsx bench/p5-batch-cost.ts`, with P5_COST_INTERVALS=<file> for the handler calls'
 * times; bench/p5-profile-phases.ts sorts the samples inside them by phase). The lanes are named apart from the stream's shards, so the
 * stack's own lanes are left alone.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import type { KinesisStreamEvent } from 'aws-lambda';
import { kinesisEvent, sequenceNumber } from '../fixtures/kinesis';
import { ENV } from '../lambda/contract/env';
import { readStackOutputs } from '../scripts/lib/stack-outputs';
import { LOCAL_LANE_BUCKETS, LOCAL_OUTPUTS_FILE, LOCAL_PENDING_KEY_SPREAD, LOCAL_UPDATE_BATCHING, REPO_ROOT } from '../scripts/local/local-stack';
import { median, round } from './lib/stats';
import { benchWorkload } from './lib/workload';

type Handler = (event: KinesisStreamEvent, context?: unknown) => Promise<unknown>;

const SHARDS = 4;
const RECORDS = 20_000;

/** The lane a partition key's records go to among `SHARDS` evenly split hash-key ranges, as Kinesis assigns them. */
function shardOf(partitionKey: string): number {
  const hash = BigInt(`0x${createHash('md5').update(partitionKey).digest('hex')}`);
  return Number((hash * BigInt(SHARDS)) >> 128n);
}

/** The emulator's CPU time so far (user + system, all threads), in ms. */
function emulatorCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based) of the line, in clock ticks (100 a second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The bundled aggregator's file, from the deployed template in cdk.out. */
function bundledAggregator(stackName: string): string {
  const template = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.out', `${stackName}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Properties: { Environment?: { Variables?: Record<string, unknown> }; Code?: { S3Key?: string } } }>;
  };
  const fn = Object.values(template.Resources).find((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[ENV.serviceName] === 'aggregator');
  return join(REPO_ROOT, 'cdk.out', `asset.${String(fn?.Properties.Code?.S3Key ?? '').replace(/\.zip$/, '')}`, 'index.js');
}

/** A request's operation and when it started and ended (performance.now()). */
interface Timed {
  readonly op: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Counts the requests made through node:http (the SDK's handler) by operation (X-Amz-Target, else the method), with
 * the time from each request's start to its response's end, summed by operation (requests in flight together overlap),
 * and the bytes sent (Content-Length).
 */
function countRequests(): { counts: Map<string, number>; ms: Map<string, number>; bytes: Map<string, number>; timeline: Timed[] } {
  const timeline: Timed[] = [];
  const counts = new Map<string, number>();
  const bytes = new Map<string, number>();
  const ms = new Map<string, number>();
  const original = http.request.bind(http);
  const counting = (...args: unknown[]) => {
    const opts = args.find((a) => typeof a === 'object' && a !== null && !(a instanceof URL)) as { headers?: Record<string, string>; method?: string } | undefined;
    const target = opts?.headers?.['x-amz-target'] ?? opts?.headers?.['X-Amz-Target'] ?? `${opts?.method ?? 'GET'} (S3)`;
    const op = String(target).split('.').pop()!;
    counts.set(op, (counts.get(op) ?? 0) + 1);
    const length = Number(opts?.headers?.['content-length'] ?? opts?.headers?.['Content-Length'] ?? 0);
    bytes.set(op, (bytes.get(op) ?? 0) + length);
    const start = performance.now();
    const req = (original as (...a: unknown[]) => http.ClientRequest)(...args);
    req.on('response', (res) =>
      res.on('end', () => {
        const end = performance.now();
        ms.set(op, (ms.get(op) ?? 0) + end - start);
        timeline.push({ op, start, end });
      }),
    );
    return req;
  };
  (http as { request: unknown }).request = counting;
  return { counts, ms, bytes, timeline };
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  const emulatorPid = Number(process.argv[3] ?? readFileSync(join(REPO_ROOT, '.local', 'emulator.pid'), 'utf8').trim());
  if (!process.env.AWS_ENDPOINT_URL) throw new Error('set AWS_ENDPOINT_URL to the emulator the stack is deployed to');
  const outputs = readStackOutputs(LOCAL_OUTPUTS_FILE);
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    [ENV.aggregationSpec]: outputs.AggregationSpec,
    [ENV.windowTableName]: outputs.WindowTableName,
    [ENV.resultsDeliveryStream]: outputs.ResultsDeliveryStreamName,
    [ENV.sinkBucketName]: outputs.BucketName,
    [ENV.errorsPrefix]: outputs.ErrorsPrefix,
    [ENV.latePrefix]: outputs.LatePrefix,
    [ENV.serviceName]: 'aggregator',
    [ENV.metricsNamespace]: 'WindowedPipeline/local',
    [ENV.updateBatching]: LOCAL_UPDATE_BATCHING,
    [ENV.pendingKeySpread]: String(LOCAL_PENDING_KEY_SPREAD),
    // P5_COST_LANE_BUCKETS: the lane partitions of the deployment under test, for a build that predates the setting.
    [ENV.laneBuckets]: process.env.P5_COST_LANE_BUCKETS ?? String(LOCAL_LANE_BUCKETS),
  });
  const { counts, ms: opMs, bytes: opBytes, timeline } = countRequests();
  // Its log lines and metrics go to stdout as in the function; the table goes to stderr.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the asset is CommonJS, found at run time
  const handler = (require(process.env.P5_COST_BUNDLE ?? bundledAggregator(outputs.stackName)) as { handler: Handler }).handler;
  const context = { getRemainingTimeInMillis: () => 60_000, awsRequestId: 'p5-batch-cost', functionName: outputs.AggregatorFunctionName };
  const run = Date.now().toString(36);
  const rows: { wall: number; cpu: number; emulator: number; requests: number; records: number; firstRead: number }[] = [];
  let seq = 0;
  // The handler calls on the monotonic clock a `--cpu-prof` profile's timestamps use, for the phase summary.
  const intervals: { round: number; fromUs: number; toUs: number }[] = [];
  for (let round = 0; round < rounds; round++) {
    // Each round starts 150 s of event time after the last, as a P5 run starts minutes after the one before: its
    // first batches pass the windows the last round left pending (device windows end a minute in, with 30 s of
    // allowed lateness), so they emit those, as the drain's batches do.
    const records = benchWorkload(RECORDS, { startMs: Date.now() + round * 150_000, stepMs: 1, idPrefix: `c${run}-${round}-` });
    const byShard: (typeof records)[] = Array.from({ length: SHARDS }, () => []);
    for (const r of records) byShard[shardOf(r.partitionKey)].push(r);
    for (let s = 0; s < SHARDS; s++) {
      // Lanes of this run only: an earlier run's lanes have watermarks minutes ahead, which would make records late.
      const lane = `shardId-9${run}-${s}`;
      const event = kinesisEvent(lane, byShard[s].map((r) => ({ data: r.data, partitionKey: r.partitionKey, sequenceNumber: sequenceNumber(seq++) })));
      // The event crosses a process boundary in the emulator: the handler gets it freshly parsed, as there.
      const delivered = JSON.parse(JSON.stringify(event)) as KinesisStreamEvent;
      counts.clear();
      opMs.clear();
      opBytes.clear();
      timeline.length = 0;
      const emu0 = emulatorCpuMs(emulatorPid);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const h0 = process.hrtime.bigint();
      await handler(delivered, context);
      const wall = performance.now() - t0;
      intervals.push({ round, fromUs: Number(h0 / 1000n), toUs: Number(process.hrtime.bigint() / 1000n) });
      const cpu = process.cpuUsage(cpu0);
      const emulator = emulatorCpuMs(emulatorPid) - emu0;
      const requests = [...counts.values()].reduce((a, b) => a + b, 0);
      // When the first window read went out: the lanes' read and the batch's preparation are before it.
      const firstRead = (timeline.find((t) => t.op === 'BatchGetItem')?.start ?? Number.NaN) - t0;
      rows.push({ wall, cpu: (cpu.user + cpu.system) / 1000, emulator, requests, records: byShard[s].length, firstRead });
      process.stderr.write(
        `round ${round} lane ${s}: ${byShard[s].length} records, wall ${wall.toFixed(0)} ms, handler+SDK CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms, ` +
          `emulator CPU ${emulator} ms, ${requests} requests ${JSON.stringify(Object.fromEntries(counts))}, ms by operation ` +
          `${JSON.stringify(Object.fromEntries([...opMs].map(([k, v]) => [k, Math.round(v)])))}, KiB sent by operation ` +
          `${JSON.stringify(Object.fromEntries([...opBytes].map(([k, v]) => [k, Math.round(v / 1024)])))}\n` +
          `  requests, ms from the call: ${timeline.map((t) => `${t.op} ${Math.round(t.start - t0)}-${Math.round(t.end - t0)}`).join(', ')}\n`,
      );
    }
  }
  if (process.env.P5_COST_INTERVALS) writeFileSync(process.env.P5_COST_INTERVALS, JSON.stringify(intervals));
  // The first round carries the JIT's warm-up, as the function's first batches do; the medians are of the others.
  const steady = rows.length > SHARDS ? rows.slice(SHARDS) : rows;
  const med = (f: (r: (typeof rows)[number]) => number) => round(median(steady.map(f)), 1);
  process.stderr.write(
    `median of ${steady.length} batches: wall ${med((r) => r.wall)} ms, handler+SDK CPU ${med((r) => r.cpu)} ms, emulator CPU ${med((r) => r.emulator)} ms, ` +
      `requests ${med((r) => r.requests)}, records ${med((r) => r.records)}, first window read at ${med((r) => r.firstRead)} ms\n`,
  );
}

void main();
