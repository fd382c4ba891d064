/**
 * The `pipeline` CLI end to end, spawned as a user runs it, against the deployed stack (the emulator by default).
 * Expected window contents come from the independent reference aggregator over the events this file generates.
 *
 * The stack is shared with the other e2e file, which may run at the same time, and watermarks are per shard. So
 * every record with a current event time is put in the first test, with times from the same starting point the other
 * file uses, under the e2e stack lock; later tests put only records far in the past (which move no watermark) or none.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import { awsClients } from '../../scripts/lib/aws-target';
import { REPO_ROOT } from '../../scripts/local/local-stack';
import { Producer, type PutReceipt } from '../../scripts/lib/producer';
import { queueUrlFor, type RedriveOutcome } from '../../scripts/lib/redrive';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { generateIotWorkload, type GeneratedRecord } from '../../scripts/workload';
import { pollUntil } from '../support/poll';
import { readTableWindows, readWatermarks } from '../support/table-windows';
import { acquireStackLock, releaseStackLock } from '../support/stack-lock';
import { measuresClose, referenceAggregate, type ReferenceWindow } from '../support/reference';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const spec = parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec');
const endpoint = process.env.E2E_ENDPOINT;
const clients = awsClients({ endpoint });
const TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS ?? 90_000);
const runId = `cli${randomBytes(3).toString('hex')}-`;
const tmp = mkdtempSync(join(tmpdir(), 'pipeline-cli-e2e-'));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node scripts/pipeline.js <args> --outputs <file>` as a user would; AWS_ENDPOINT_URL comes from the runner. */
function cli(args: string[], opts: { input?: string; outputs?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'pipeline.js'), ...args, '--outputs', opts.outputs ?? outputsFile!], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

/** This run's windows' measures, read with the documented item layout rather than the code under test. */
async function ourWindows(): Promise<Map<string, Record<string, number | null>>> {
  const windows = await readTableWindows(clients.doc, outputs.WindowTableName, spec, runId);
  return new Map([...windows].map(([id, w]) => [id, w.measures as Record<string, number | null>]));
}

function diff(expected: Map<string, ReferenceWindow>, actual: Map<string, Record<string, number | null>>): string[] {
  const problems: string[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a) problems.push(`missing ${id}`);
    else if (!measuresClose(a, e.measures)) problems.push(`${id}: ${JSON.stringify(a)} != ${JSON.stringify(e.measures)}`);
  }
  for (const id of actual.keys()) if (!expected.has(id)) problems.push(`unexpected ${id}`);
  return problems;
}

const ndjson = (records: readonly GeneratedRecord[]) => records.map((r) => r.data).join('\n') + '\n';

// State the tests share, in order.
let startMs = 0;
let viaFile: GeneratedRecord[] = [];
let viaStdin: GeneratedRecord[] = [];
let viaLibrary: GeneratedRecord[] = [];
const receipts = new Map<string, PutReceipt>();
let expected = new Map<string, ReferenceWindow>();

jest.setTimeout(5 * 60_000);
describe('pipeline CLI end to end', () => {
  // The e2e files share the stack's per-shard watermarks: one at a time.
  beforeAll(() => acquireStackLock());
  afterAll(() => releaseStackLock());

  test('produce from a file and from stdin (KPL-aggregated), keyed by a field; the windows match the reference', async () => {
    // The same starting point as the other e2e file: past every shard's watermark.
    const prior = [...(await readWatermarks(clients.doc, outputs.WindowTableName)).values()];
    startMs = Math.ceil(Math.max(Date.now(), ...prior.map((w) => w + 600_000)) / 60_000) * 60_000;
    const events = generateIotWorkload({ seed: 7, count: 450, startMs, devices: 6, sites: 2, stepMs: 200, maxDisorderMs: 10_000, malformedRatio: 0, idPrefix: runId });
    viaFile = events.slice(0, 150);
    viaStdin = events.slice(150, 300);
    viaLibrary = events.slice(300);
    const file = join(tmp, 'events.ndjson');
    writeFileSync(file, ndjson(viaFile));

    // The library run keeps receipts, for the redrive test's sequence-number range.
    const producer = new Producer(clients.kinesis, { streamName: outputs.StreamName, onDelivered: (r, rc) => receipts.set(String(r.data), rc) });
    // One after the other, in event-time order: a later range processed first would make an earlier one late.
    const fromFile = await cli(['produce', '--file', file, '--partition-key', 'deviceId']);
    const fromStdin = await cli(['produce', '--file', '-', '--partition-key', 'deviceId', '--aggregate'], { input: ndjson(viaStdin) });
    for (const r of viaLibrary) await producer.put({ partitionKey: r.partitionKey, data: r.data });
    await producer.close();
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toMatch(/^sent 150, retried \d+, failed 0, skipped 0 invalid line\(s\), \d+ records\/s$/m);
    expect(fromStdin.code).toBe(0);
    expect(fromStdin.stdout).toMatch(/^sent 150, retried \d+, failed 0/m);
    expect(receipts.size).toBe(viaLibrary.length);

    expected = referenceAggregate(spec, events.map((r) => r.event!));
    await pollUntil(ourWindows, (a) => diff(expected, a).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (a) => `window state differs from the reference: ${a ? diff(expected, a).slice(0, 5).join('; ') : 'no scan'}`,
    });
  });

  test('query prints the windows of a key as JSON and as a table', async () => {
    const device = String(viaFile[0].event!.deviceId);
    const wanted = [...expected.values()].filter((w) => w.aggregation === 'device_temp_1m' && w.key.deviceId === device);
    expect(wanted.length).toBeGreaterThan(0);
    const json = await cli(['query', '--aggregation', 'device_temp_1m', '--key', `deviceId=${device}`, '--from', new Date(startMs - 3_600_000).toISOString(), '--json']);
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as WindowResult);
    expect(lines.map((l) => l.windowStart).sort()).toStrictEqual(wanted.map((w) => w.windowStart).sort());
    for (const l of lines) {
      expect(Object.keys(l).sort()).toStrictEqual(['aggregation', 'final', 'id', 'key', 'measures', 'version', 'windowEnd', 'windowStart']);
      expect(l.key).toStrictEqual({ deviceId: device });
      const ref = wanted.find((w) => w.windowStart === l.windowStart)!;
      expect(measuresClose(l.measures, ref.measures)).toBe(true);
    }
    const site = String(viaFile[0].event!.site);
    const table = await cli(['query', '--aggregation', 'site_events_5m', '--key', `site=${site}`]);
    expect(table.code).toBe(0);
    const [header, rule, ...rows] = table.stdout.trimEnd().split('\n');
    const measureNames = spec.aggregations.find((a) => a.name === 'site_events_5m')!.measures.map((m) => m.name);
    expect(header).toMatch(new RegExp(`^window start\\s+window end\\s+key\\s+${measureNames.join('\\s+')}\\s+final\\s+version$`));
    expect(rule).toMatch(/^-+(\s+-+)+$/);
    const siteWindows = [...expected.values()].filter((w) => w.aggregation === 'site_events_5m' && w.key.site === site);
    expect(rows.length).toBe(siteWindows.length);
    for (const w of siteWindows) {
      const row = rows.find((r) => r.startsWith(w.windowStart.replace('.000Z', 'Z')));
      expect(row).toBeDefined();
      expect(row).toMatch(new RegExp(`site=${site}\\s+${w.measures.events as number}\\s`));
    }
  });

  test('query names the valid aggregations and key fields when given unknown ones', async () => {
    const agg = await cli(['query', '--aggregation', 'no_such_thing']);
    expect(agg.code).toBe(1);
    expect(agg.stderr).toMatch(/Unknown aggregation "no_such_thing"\. Valid aggregations: device_temp_1m, site_events_5m/);
    const key = await cli(['query', '--aggregation', 'device_temp_1m', '--key', 'site=x']);
    expect(key.code).toBe(1);
    expect(key.stderr).toMatch(/Unknown key field "site" for aggregation "device_temp_1m"\. Valid fields: deviceId/);
  });

  test('query --watch refreshes until Ctrl-C and then exits cleanly', async () => {
    const device = String(viaFile[0].event!.deviceId);
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'pipeline.js'), 'query', '--aggregation', 'device_temp_1m', '--key', `deviceId=${device}`, '--watch', '0.5', '--outputs', outputsFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}) },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const frames = () => stdout.split('(Ctrl-C exits)').length - 1;
    await pollUntil(() => Promise.resolve(frames()), (n) => n >= 2, { timeoutMs: 30_000, intervalMs: 200, describe: (n) => `${n} frame(s) of query --watch` });
    expect(stdout).toMatch(new RegExp(`deviceId=${device}`));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  test('produce stops at a bad line naming it, and --skip-invalid skips and counts', async () => {
    // Event times far in the past: these records move no watermark (they land in the late-data sink).
    const old = { deviceId: String(viaFile[0].event!.deviceId), site: String(viaFile[0].event!.site), ts: startMs - 7_200_000, temperature: 1 };
    const input = `${JSON.stringify(old)}\n\n{"deviceId": oops}\n${JSON.stringify(old)}\n`;
    // Keyed like earlier records, so they reach a shard with a watermark and are late rather than counted.
    const strict = await cli(['produce', '--file', '-', '--partition-key', 'deviceId'], { input });
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/stdin: line 3: invalid JSON.*--skip-invalid/);
    expect(strict.stdout).toMatch(/^sent 1, /m);
    const lenient = await cli(['produce', '--file', '-', '--partition-key', 'deviceId', '--skip-invalid'], { input });
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/^sent 2, retried \d+, failed 0, skipped 1 invalid line\(s\)/m);
    expect(lenient.stderr).toMatch(/skipped line 3: invalid JSON/);
  });

  test('produce writes records it could not deliver to the failed-records file and exits non-zero', async () => {
    const all = JSON.parse(readFileSync(outputsFile, 'utf8')) as Record<string, Record<string, string>>;
    const stack = Object.keys(all)[0];
    const broken = join(tmp, 'broken-outputs.json');
    writeFileSync(broken, JSON.stringify({ [stack]: { ...all[stack], StreamName: `${runId}no-such-stream` } }));
    const failedFile = join(tmp, 'failed.ndjson');
    const run = await cli(['produce', '--demo', '--count', '25', '--max-attempts', '2', '--failed-file', failedFile], { outputs: broken });
    expect(run.code).toBe(1);
    // One record per partition key is in flight: the first of each key is retried, the later ones are held unsent.
    const keys = new Set(generateIotWorkload({ seed: 42, count: 25, startMs: 0 }).map((r) => r.partitionKey)).size;
    expect(run.stdout).toMatch(new RegExp(`^sent 0, retried ${keys}, failed 25`, 'm'));
    expect(run.stderr).toMatch(new RegExp(`25 record\\(s\\) could not be written after 2 attempt\\(s\\).*${failedFile.replace(/[/.]/g, '\\$&')}`));
    const lines = readFileSync(failedFile, 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBe(25);
    for (const l of lines) {
      expect(typeof l.partitionKey).toBe('string');
      expect(typeof l.data).toBe('string');
      expect(l.error).toMatch(/ResourceNotFound/);
    }
  });

  test('produce --demo clickstream sends the seeded clickstream', async () => {
    const run = await cli(['produce', '--demo', 'clickstream', '--count', '20', '--seed', '3']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^sent 20, retried \d+, failed 0/m);
    const bad = await cli(['produce', '--demo', 'weather', '--count', '1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown demo "weather"; choose iot or clickstream/);
  });

  test('errors lists the errors sink and the late-data sink, payloads decoded', async () => {
    const device = String(viaLibrary[0].event!.deviceId);
    const malformed = JSON.stringify({ deviceId: device, site: 'x', ts: 'not a time', temperature: 1, tag: `${runId}bad` });
    const binary = Buffer.concat([Buffer.from(runId), Buffer.from([0xff, 0x00, 0xfe])]);
    const tooLate = JSON.stringify({ deviceId: device, site: String(viaLibrary[0].event!.site), ts: startMs - 3_600_000, temperature: 5, tag: `${runId}late` });
    const producer = new Producer(clients.kinesis, { streamName: outputs.StreamName });
    for (const data of [malformed, binary, tooLate]) await producer.put({ partitionKey: device, data });
    await producer.close();

    const entries = async (args: string[]) => {
      const run = await cli(['errors', '--json', '--limit', '1000000', ...args]);
      expect(run.code).toBe(0);
      return run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { sink: string; reason: string; payload?: string; payloadBase64?: string; shardId?: string; sequenceNumber?: string });
    };
    const ours = (list: Awaited<ReturnType<typeof entries>>) => ({
      malformed: list.find((e) => e.payload === malformed),
      binary: list.find((e) => e.payloadBase64 === binary.toString('base64')),
      late: list.filter((e) => e.payload === tooLate),
    });
    const found = await pollUntil(() => entries([]).then(ours), (o) => !!o.malformed && !!o.binary && o.late.length > 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (o) => `not yet in the sinks: ${o ? Object.entries(o).filter(([, v]) => !v || (Array.isArray(v) && v.length === 0)).map(([k]) => k).join(', ') : 'all'}`,
    });
    expect(found.malformed!.sink).toBe('errors');
    expect(found.malformed!.reason).toMatch(/time/i);
    expect(found.malformed!.shardId!).toMatch(/^shardId-/);
    expect(found.malformed!.sequenceNumber!).toMatch(/^\d+$/);
    expect(found.binary!.sink).toBe('errors');
    expect(found.binary!.payload).toBe(undefined);
    expect(found.late.every((e) => e.sink === 'late' && /too late/.test(e.reason))).toBe(true);

    const onlyLate = await entries(['--late']);
    expect(onlyLate.length > 0 && onlyLate.every((e) => e.sink === 'late')).toBe(true);
    expect(onlyLate.some((e) => e.payload === tooLate)).toBe(true);
    const onlyErrors = await entries(['--errors']);
    expect(onlyErrors.every((e) => e.sink === 'errors') && onlyErrors.some((e) => e.payload === malformed)).toBe(true);
    const limited = await entries(['--limit', '1']);
    expect(limited.length).toBe(1);
    const table = await cli(['errors', '--limit', '3']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^sink\s+reason\s+shard\s+sequence number\s+payload$/m);
    expect(table.stdout).toMatch(/\d+ errors, \d+ late in s3:\/\//);
  });

  test('redrive re-feeds the range an on-failure message names without double counting, and keeps what it cannot recover', async () => {
    // ministack never writes to the on-failure queue, so this test writes the message Lambda would: the range of
    // records already processed, on the shard that holds most of ours.
    const byShard = new Map<string, string[]>();
    for (const r of receipts.values()) byShard.set(r.shardId, [...(byShard.get(r.shardId) ?? []), r.sequenceNumber]);
    const [shardId, seqs] = [...byShard].sort((a, b) => b[1].length - a[1].length)[0];
    seqs.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const queueUrl = queueUrlFor(outputs.FailureQueueUrl, endpoint);
    const message = (info: Record<string, unknown>) =>
      JSON.stringify({
        requestContext: { requestId: `${runId}req`, functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${outputs.AggregatorFunctionName}`, condition: 'RetryAttemptsExhausted', approximateInvokeCount: 11 },
        responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
        version: '1.0',
        timestamp: new Date().toISOString(),
        KinesisBatchInfo: { shardId, startSequenceNumber: seqs[0], endSequenceNumber: seqs.at(-1), batchSize: seqs.length, streamArn: outputs.StreamArn, ...info },
      });
    const good = await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message({}) }));
    const gone = await clients.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: message({ shardId: 'shardId-000000009999' }) }));

    const outcomesOf = (run: Run) => run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as RedriveOutcome);
    const dry = await cli(['redrive', '--dry-run', '--json']);
    const dryGood = outcomesOf(dry).find((o) => o.messageId === good.MessageId)!;
    expect(dryGood.outcome).toBe('would-redrive');
    const previewed = new Set(dryGood.preview!.map((p) => p.sequenceNumber));
    for (const s of seqs) expect(previewed).toContain(s);

    const run = await cli(['redrive', '--json']);
    expect(run.code).toBe(1);
    const outcomes = outcomesOf(run);
    const ok = outcomes.find((o) => o.messageId === good.MessageId)!;
    expect([ok.outcome, ok.deleted]).toStrictEqual(['redriven', true]);
    expect(ok.records >= seqs.length && ok.invocations >= 1).toBe(true);
    const kept = outcomes.find((o) => o.messageId === gone.MessageId)!;
    expect([kept.outcome, kept.deleted]).toStrictEqual(['unrecoverable', false]);
    expect(kept.detail!).toMatch(/shardId-000000009999/);

    // No double counting: the state still equals the reference.
    const problems = diff(expected, await ourWindows());
    expect(problems).toStrictEqual([]);

    // The re-fed message is gone, the unrecoverable one is still there (and is removed here, to leave a clean queue).
    const seen = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const res = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 1 }));
      for (const m of res.Messages ?? []) seen.set(m.MessageId!, m.ReceiptHandle!);
      if (seen.has(gone.MessageId!)) break;
    }
    expect(seen.has(good.MessageId!)).toBe(false);
    expect(seen.has(gone.MessageId!)).toBe(true);
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: seen.get(gone.MessageId!) }));
  });
});
