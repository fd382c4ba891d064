/**
 * End to end on a deployed stack (the emulator by default, AWS with E2E_TARGET=aws): a seeded workload goes through
 * the real stream, event source mapping, bundled handler, table, Firehose streams and bucket, and every outcome is
 * compared with an independent reference computed here from the same events.
 */
import { randomBytes } from 'node:crypto';

import { parseAggregationSpecJson, windowSizeMs } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { Producer, type PutReceipt } from '../../scripts/lib/producer';
import { listKeys, NdjsonPrefixReader, readObject } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { generateIotWorkload, type GeneratedRecord } from '../../scripts/workload';
import { pollUntil } from '../support/poll';
import { acquireStackLock, releaseStackLock } from '../support/stack-lock';
import { readTableWindows, readWatermarks, type TableWindow } from '../support/table-windows';
import { measuresClose, referenceAggregate, windowIdentity, type ReferenceWindow } from '../support/reference';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const spec = parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec');
const clients = awsClients({ endpoint: process.env.E2E_ENDPOINT });
/** Generous: on AWS, Firehose buffers for its configured interval before S3 sees anything. */
const TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS ?? 240_000);

const runId = `e2e${randomBytes(3).toString('hex')}-`;
const isOurs = (key: Record<string, unknown>) => Object.values(key).some((v) => String(v).startsWith(runId));

const ourWindows = () => readTableWindows(clients.doc, outputs.WindowTableName, spec, runId);
const watermarks = () => readWatermarks(clients.doc, outputs.WindowTableName);

async function put(records: readonly GeneratedRecord[]): Promise<Map<string, PutReceipt>> {
  const receipts = new Map<string, PutReceipt>();
  const producer = new Producer(clients.kinesis, {
    streamName: outputs.StreamName,
    onDelivered: (r, receipt) => receipts.set(String(r.data), receipt),
  });
  for (const r of records) await producer.put({ partitionKey: r.partitionKey, data: r.data });
  await producer.close();
  return receipts;
}

function diffWindows(expected: Map<string, ReferenceWindow>, actual: Map<string, TableWindow>): string[] {
  const problems: string[] = [];
  for (const [id, e] of expected) {
    const a = actual.get(id);
    if (!a) problems.push(`missing ${id}`);
    else if (!measuresClose(a.measures, e.measures)) problems.push(`${id}: ${JSON.stringify(a.measures)} != ${JSON.stringify(e.measures)}`);
  }
  for (const id of actual.keys()) if (!expected.has(id)) problems.push(`unexpected ${id}`);
  return problems;
}

jest.setTimeout(15 * 60_000);
describe('pipeline end to end', () => {
  // The e2e files share the stack's per-shard watermarks: one at a time.
  beforeAll(() => acquireStackLock());
  afterAll(() => releaseStackLock());

  test('window state, final results, errors, late data and the raw archive all match the reference', async () => {
    // Start event time past every shard's watermark, so that earlier runs against the same stack cannot make this
    // run's events late.
    const prior = [...(await watermarks()).values()];
    const startMs = Math.ceil(Math.max(Date.now(), ...prior.map((w) => w + 600_000)) / 60_000) * 60_000;

    // Phase 1: on-time traffic with out-of-order events (within the allowed lateness) and malformed records.
    const phase1 = generateIotWorkload({
      seed: 20240501,
      count: 1200,
      startMs,
      devices: 40,
      sites: 4,
      stepMs: 250,
      maxDisorderMs: 20_000,
      malformedRatio: 0.03,
      idPrefix: runId,
    });
    const valid1 = phase1.filter((r) => r.event).map((r) => r.event!);
    const receipts = await put(phase1);
    expect(receipts.size).toBe(phase1.length);

    const expected1 = referenceAggregate(spec, valid1);
    await pollUntil(ourWindows, (actual) => diffWindows(expected1, actual).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (a) => `window state differs from the reference: ${a ? diffWindows(expected1, a).slice(0, 5).join('; ') : 'no scan'}`,
    });

    // Phase 2: records far behind the watermark (too late for every window) and records within the lateness, on
    // partition keys of phase 1 so that they reach shards that already have a watermark.
    const ourShards = new Set([...receipts.values()].map((r) => r.shardId));
    const wms = await watermarks();
    const device = valid1[0].deviceId as string;
    const deviceShard = receipts.get(phase1.find((r) => r.event?.deviceId === device)!.data)!.shardId;
    const deviceWm = wms.get(deviceShard)!;
    expect(deviceWm).toBeGreaterThanOrEqual(startMs);
    const tooLate: GeneratedRecord[] = Array.from({ length: 10 }, (_, i) => {
      const event = { deviceId: device, site: valid1[0].site, ts: startMs - 3_600_000 + i * 1000, temperature: 99 + i };
      return { partitionKey: device, data: JSON.stringify(event), event };
    });
    await put(tooLate);

    // A correction, made deterministic rather than left to how the event source mapping happens to batch: an event
    // opens the device's next window, a later one moves the shard's watermark past its end (the window fires), and one
    // more lands in the fired window within its allowed lateness, so that the window must reach version 2.
    const deviceEvent = (ts: number, temperature: number): GeneratedRecord => {
      const event = { deviceId: device, site: valid1[0].site, ts, temperature };
      return { partitionKey: device, data: JSON.stringify(event), event };
    };
    const deviceAgg = spec.aggregations.find((a) => a.groupBy.length === 1 && a.groupBy[0] === 'deviceId' && a.window.type === 'tumbling');
    const corrections: GeneratedRecord[] = [];
    if (deviceAgg && deviceAgg.allowedLatenessSeconds * 1000 > 10_000) {
      const sizeMs = windowSizeMs(deviceAgg.window);
      const start = Math.ceil((deviceWm + 1) / sizeMs) * sizeMs;
      const id = windowIdentity({ aggregation: deviceAgg.name, key: { deviceId: device }, windowStart: new Date(start).toISOString() });
      const steps = [
        { record: deviceEvent(start + 1_000, 60), until: (w?: { final: boolean }) => w !== undefined },
        { record: deviceEvent(start + sizeMs + 5_000, 61), until: (w?: { final: boolean }) => w?.final === true },
        { record: deviceEvent(start + sizeMs - 1_000, 62), until: (w?: { version: number }) => (w?.version ?? 0) >= 2 },
      ];
      for (const { record, until } of steps) {
        corrections.push(record);
        await put([record]);
        await pollUntil(ourWindows, (a) => until(a.get(id)), {
          timeoutMs: TIMEOUT_MS,
          describe: (a) => `device window ${id} after ${record.data}: ${JSON.stringify(a?.get(id))}`,
        });
      }
    }

    const expected = referenceAggregate(spec, [...valid1, ...corrections.map((r) => r.event!)]);
    const state = await pollUntil(ourWindows, (actual) => diffWindows(expected, actual).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (a) => `window state differs from the reference after phase 2: ${a ? diffWindows(expected, a).slice(0, 5).join('; ') : 'no scan'}`,
    });

    // Every window the watermark has closed is final, and its latest version is in S3 with the reference's measures.
    const finalWms = await watermarks();
    const closedUpTo = Math.min(...[...ourShards].map((s) => finalWms.get(s) ?? -Infinity));
    for (const [, w] of state) {
      if (Date.parse(w.windowEnd) <= closedUpTo) expect(w.final).toBe(true);
    }
    const fired = [...state].filter(([, w]) => w.final);
    expect(fired.length).toBeGreaterThan(0);
    const results = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix);
    const missingResults = (lines: unknown[]) => {
      const latest = new Map<string, { version: number; measures: Record<string, unknown>; final: boolean }>();
      for (const l of lines as { aggregation: string; key: Record<string, unknown>; windowStart: string; version: number; measures: Record<string, unknown>; final: boolean }[]) {
        if (!l.key || !isOurs(l.key)) continue;
        const id = windowIdentity(l);
        if ((latest.get(id)?.version ?? 0) < l.version) latest.set(id, l);
      }
      return fired.filter(([id, w]) => {
        const r = latest.get(id);
        return !r || r.version !== w.version || !r.final || !measuresClose(r.measures, expected.get(id)!.measures);
      });
    };
    await pollUntil(() => results.readAll(), (lines) => missingResults(lines).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (l) => `${l ? missingResults(l).length : fired.length} of ${fired.length} final windows missing or wrong in s3://${outputs.BucketName}/${outputs.ResultsPrefix}`,
    });
    if (corrections.length > 0) {
      expect(fired.some(([, w]) => w.version > 1)).toBe(true);
    }

    // Every malformed record is in the errors sink with its payload and a reason.
    const malformed = phase1.filter((r) => r.malformation);
    expect(malformed.length).toBeGreaterThan(0);
    const errors = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ErrorsPrefix);
    const missingErrors = (entries: unknown[]) => {
      const got = new Map((entries as { payload?: string; reason?: string }[]).map((e) => [e.payload, e.reason]));
      return malformed.filter((m) => !got.get(m.data));
    };
    await pollUntil(() => errors.readAll(), (e) => missingErrors(e).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (e) => `${e ? missingErrors(e).length : malformed.length} of ${malformed.length} malformed records missing from the errors sink`,
    });

    // Every too-late record is in the late-data sink, with the reason.
    const late = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.LatePrefix);
    const missingLate = (entries: unknown[]) => {
      const got = new Set((entries as { payload?: string; reason?: string }[]).filter((e) => /too late/.test(e.reason ?? '')).map((e) => e.payload));
      return tooLate.filter((r) => !got.has(r.data));
    };
    await pollUntil(() => late.readAll(), (e) => missingLate(e).length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (e) => `${e ? missingLate(e).length : tooLate.length} of ${tooLate.length} too-late records missing from the late-data sink`,
    });

    // The raw archive holds every record put on the stream, malformed ones included.
    const sent = [...phase1, ...tooLate, ...corrections].map((r) => r.data);
    const rawSeen = new Map<string, string>();
    const missingRaw = async () => {
      for (const key of await listKeys(clients.s3, outputs.BucketName, outputs.RawPrefix)) {
        if (!rawSeen.has(key)) rawSeen.set(key, (await readObject(clients.s3, outputs.BucketName, key)).toString('utf8'));
      }
      const archive = [...rawSeen.values()].join('\n');
      return sent.filter((d) => !archive.includes(d));
    };
    await pollUntil(missingRaw, (m) => m.length === 0, {
      timeoutMs: TIMEOUT_MS,
      describe: (m) => `${m?.length ?? sent.length} of ${sent.length} records missing from the raw archive`,
    });
  });
});
