/**
 * The `pipeline` CLI end to end, spawned as a user runs it, against the deployed stack (the emulator by default).
 * Expected window contents come from the independent reference aggregator over the events this file generates.
 *
 * The stack is shared with the other e2e file, which may run at the same time, and watermarks are per shard. So
 * every record with a current event time is put in the first test, with times from the same starting point the other
 * file uses, under the e2e stack lock; later tests put only records far in the past (which move no watermark) or none.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { REPO_ROOT } from '../../scripts/lib/local-stack';
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
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.match(fromFile.stdout, /^sent 150, retried \d+, failed 0, skipped 0 invalid line\(s\), \d+ records\/s$/m);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    assert.match(fromStdin.stdout, /^sent 150, retried \d+, failed 0/m);
    assert.equal(receipts.size, viaLibrary.length);

    expected = referenceAggregate(spec, events.map((r) => r.event!));
    await pollUntil(ourWindows, (a) => diff(expected, a).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (a) => `window state differs from the reference: ${a ? diff(expected, a).slice(0, 5).join('; ') : 'no scan'}`,
    });
  });

  test('query prints the windows of a key as JSON and as a table', async () => {
    const device = String(viaFile[0].event!.deviceId);
    const wanted = [...expected.values()].filter((w) => w.aggregation === 'device_temp_1m' && w.key.deviceId === device);
    assert.ok(wanted.length > 0);
    const json = await cli(['query', '--aggregation', 'device_temp_1m', '--key', `deviceId=${device}`, '--from', new Date(startMs - 3_600_000).toISOString(), '--json']);
    assert.equal(json.code, 0, json.stderr);
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.windowStart).sort(), wanted.map((w) => w.windowStart).sort());
    for (const l of lines) {
      assert.deepEqual(Object.keys(l).sort(), ['aggregation', 'final', 'id', 'key', 'measures', 'version', 'windowEnd', 'windowStart']);
      assert.deepEqual(l.key, { deviceId: device });
      const ref = wanted.find((w) => w.windowStart === l.windowStart)!;
      assert.ok(measuresClose(l.measures, ref.measures), `${JSON.stringify(l.measures)} != ${JSON.stringify(ref.measures)}`);
    }
    const site = String(viaFile[0].event!.site);
    const table = await cli(['query', '--aggregation', 'site_events_5m', '--key', `site=${site}`]);
    assert.equal(table.code, 0, table.stderr);
    const [header, rule, ...rows] = table.stdout.trimEnd().split('\n');
    const measureNames = spec.aggregations.find((a) => a.name === 'site_events_5m')!.measures.map((m) => m.name);
    assert.match(header, new RegExp(`^window start\\s+window end\\s+key\\s+${measureNames.join('\\s+')}\\s+final\\s+version$`));
    assert.match(rule, /^-+(\s+-+)+$/);
    const siteWindows = [...expected.values()].filter((w) => w.aggregation === 'site_events_5m' && w.key.site === site);
    assert.equal(rows.length, siteWindows.length);
    for (const w of siteWindows) {
      const row = rows.find((r) => r.startsWith(w.windowStart.replace('.000Z', 'Z')));
      assert.ok(row, `a row for ${w.windowStart}`);
      assert.match(row, new RegExp(`site=${site}\\s+${w.measures.events}\\s`));
    }
  });

  test('query names the valid aggregations and key fields when given unknown ones', async () => {
    const agg = await cli(['query', '--aggregation', 'no_such_thing']);
    assert.equal(agg.code, 1);
    assert.match(agg.stderr, /Unknown aggregation "no_such_thing"\. Valid aggregations: device_temp_1m, site_events_5m/);
    const key = await cli(['query', '--aggregation', 'device_temp_1m', '--key', 'site=x']);
    assert.equal(key.code, 1);
    assert.match(key.stderr, /Unknown key field "site" for aggregation "device_temp_1m"\. Valid fields: deviceId/);
  });

  test('query --watch refreshes until Ctrl-C and then exits cleanly', async () => {
    const device = String(viaFile[0].event!.deviceId);
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'pipeline.js'), 'query', '--aggregation', 'device_temp_1m', '--key', `deviceId=${device}`, '--watch', '0.5', '--outputs', outputsFile!], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...(endpoint ? { AWS_ENDPOINT_URL: endpoint } : {}) },
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const frames = () => stdout.split('(Ctrl-C exits)').length - 1;
    await pollUntil(async () => frames(), (n) => n >= 2, { timeoutMs: 30_000, intervalMs: 200, describe: (n) => `${n} frame(s) of query --watch` });
    assert.match(stdout, new RegExp(`deviceId=${device}`));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  test('produce stops at a bad line naming it, and --skip-invalid skips and counts', async () => {
    // Event times far in the past: these records move no watermark (they land in the late-data sink).
    const old = { deviceId: String(viaFile[0].event!.deviceId), site: String(viaFile[0].event!.site), ts: startMs - 7_200_000, temperature: 1 };
    const input = `${JSON.stringify(old)}\n\n{"deviceId": oops}\n${JSON.stringify(old)}\n`;
    // Keyed like earlier records, so they reach a shard with a watermark and are late rather than counted.
    const strict = await cli(['produce', '--file', '-', '--partition-key', 'deviceId'], { input });
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /stdin: line 3: invalid JSON.*--skip-invalid/);
    assert.match(strict.stdout, /^sent 1, /m, 'what came before the bad line was sent');
    const lenient = await cli(['produce', '--file', '-', '--partition-key', 'deviceId', '--skip-invalid'], { input });
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stdout, /^sent 2, retried \d+, failed 0, skipped 1 invalid line\(s\)/m);
    assert.match(lenient.stderr, /skipped line 3: invalid JSON/);
  });

  test('produce writes records it could not deliver to the failed-records file and exits non-zero', async () => {
    const all = JSON.parse(readFileSync(outputsFile!, 'utf8')) as Record<string, Record<string, string>>;
    const stack = Object.keys(all)[0];
    const broken = join(tmp, 'broken-outputs.json');
    writeFileSync(broken, JSON.stringify({ [stack]: { ...all[stack], StreamName: `${runId}no-such-stream` } }));
    const failedFile = join(tmp, 'failed.ndjson');
    const run = await cli(['produce', '--demo', '--count', '25', '--max-attempts', '2', '--failed-file', failedFile], { outputs: broken });
    assert.equal(run.code, 1);
    // One record per partition key is in flight: the first of each key is retried, the later ones are held unsent.
    const keys = new Set(generateIotWorkload({ seed: 42, count: 25, startMs: 0 }).map((r) => r.partitionKey)).size;
    expect(run.stdout).toMatch(new RegExp(`^sent 0, retried ${keys}, failed 25`, 'm'));
    assert.match(run.stderr, new RegExp(`25 record\\(s\\) could not be written after 2 attempt\\(s\\).*${failedFile.replace(/[/.]/g, '\\$&')}`));
    const lines = readFileSync(failedFile, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 25);
    for (const l of lines) {
      assert.equal(typeof l.partitionKey, 'string');
      assert.equal(typeof l.data, 'string');
      assert.match(l.error, /ResourceNotFound/);
    }
  });

  test('produce --demo clickstream sends the seeded clickstream', async () => {
    const run = await cli(['produce', '--demo', 'clickstream', '--count', '20', '--seed', '3']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^sent 20, retried \d+, failed 0/m);
    const bad = await cli(['produce', '--demo', 'weather', '--count', '1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown demo "weather"; choose iot or clickstream/);
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
      assert.equal(run.code, 0, run.stderr);
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
    assert.equal(found.malformed!.sink, 'errors');
    assert.match(found.malformed!.reason, /time/i);
    assert.match(found.malformed!.shardId!, /^shardId-/);
    assert.match(found.malformed!.sequenceNumber!, /^\d+$/);
    assert.equal(found.binary!.sink, 'errors');
    assert.equal(found.binary!.payload, undefined, 'a binary payload is not shown as text');
    assert.ok(found.late.every((e) => e.sink === 'late' && /too late/.test(e.reason)));

    const onlyLate = await entries(['--late']);
    assert.ok(onlyLate.length > 0 && onlyLate.every((e) => e.sink === 'late'));
    assert.ok(onlyLate.some((e) => e.payload === tooLate));
    const onlyErrors = await entries(['--errors']);
    assert.ok(onlyErrors.every((e) => e.sink === 'errors') && onlyErrors.some((e) => e.payload === malformed));
    const limited = await entries(['--limit', '1']);
    assert.equal(limited.length, 1);
    const table = await cli(['errors', '--limit', '3']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^sink\s+reason\s+shard\s+sequence number\s+payload$/m);
    assert.match(table.stdout, /\d+ errors, \d+ late in s3:\/\//);
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
    assert.equal(dryGood.outcome, 'would-redrive');
    const previewed = new Set(dryGood.preview!.map((p) => p.sequenceNumber));
    for (const s of seqs) assert.ok(previewed.has(s), `dry run shows ${s}`);

    const run = await cli(['redrive', '--json']);
    assert.equal(run.code, 1, 'an unrecoverable message makes the exit code non-zero');
    const outcomes = outcomesOf(run);
    const ok = outcomes.find((o) => o.messageId === good.MessageId)!;
    assert.deepEqual([ok.outcome, ok.deleted], ['redriven', true]);
    assert.ok(ok.records >= seqs.length && ok.invocations >= 1);
    const kept = outcomes.find((o) => o.messageId === gone.MessageId)!;
    assert.deepEqual([kept.outcome, kept.deleted], ['unrecoverable', false]);
    assert.match(kept.detail!, /shardId-000000009999/);

    // No double counting: the state still equals the reference.
    const problems = diff(expected, await ourWindows());
    assert.deepEqual(problems, []);

    // The re-fed message is gone, the unrecoverable one is still there (and is removed here, to leave a clean queue).
    const seen = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const res = await clients.sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 30, WaitTimeSeconds: 1 }));
      for (const m of res.Messages ?? []) seen.set(m.MessageId!, m.ReceiptHandle!);
      if (seen.has(gone.MessageId!)) break;
    }
    assert.ok(!seen.has(good.MessageId!), 'the re-fed message was deleted');
    assert.ok(seen.has(gone.MessageId!), 'the unrecoverable message was kept');
    await clients.sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: seen.get(gone.MessageId!) }));
  });
});
