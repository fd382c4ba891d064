/**
 * Session and stagger windows, hidden-test style: a spec of its own (specs/sessions.json), a seeded workload file
 * (fixtures/sessions-workload.ndjson, from scripts/session-workload.ts), the real bundled aggregator run in this
 * process against the deployed table and results stream, and the results on S3 compared with an independent
 * reference computed from the whole event set (test/support/key-window-reference.ts).
 *
 * The workload goes in as two shards (sites s0 and s2 on one, s1 on the other), in delivery order with bounded
 * disorder, in batches of 40, one of them delivered twice; a last event per site, an hour later, moves the watermarks
 * past every session, so that every window of the workload fires.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { ENV } from '../../lambda/contract/env';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import type { WindowResult } from '../../lambda/domain/window-result';
import { awsClients } from '../../scripts/lib/aws-target';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { REPO_ROOT } from '../../scripts/local/local-stack';
import { queryWindows } from '../../scripts/lib/window-query';
import { functionEnvFor, loadBundledHandler } from '../support/bundled-function';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { keyWindowIdentity, referenceKeyWindows } from '../support/key-window-reference';
import { pollUntil } from '../support/poll';
import { measuresClose } from '../support/reference';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const clients = awsClients({ endpoint: process.env.E2E_ENDPOINT });

const SPEC = parseAggregationSpecJson(readFileSync(join(REPO_ROOT, 'specs', 'sessions.json'), 'utf8'), 'specs/sessions.json');
const WORKLOAD = readFileSync(join(REPO_ROOT, 'fixtures', 'sessions-workload.ndjson'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as { ts: number; site: string; deviceId: string; temperature: number });

let handler: (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

beforeAll(() => {
  Object.assign(
    process.env,
    functionEnvFor(outputs, SPEC, {
      [ENV.serviceName]: 'aggregator',
      [ENV.metricsNamespace]: 'SessionsE2E',
      POWERTOOLS_METRICS_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    }),
  );
  handler = loadBundledHandler<typeof handler>(outputs.stackName, 'aggregator');
});

/** The live results of one run: per window id, the last version, unless a later result supersedes the window. */
function liveResults(lines: readonly WindowResult[]): Map<string, WindowResult> {
  const superseded = new Set(lines.flatMap((r) => r.supersedes ?? []));
  const last = new Map<string, WindowResult>();
  for (const r of lines) {
    if (r.sessionId === undefined || superseded.has(r.sessionId)) continue;
    const k = `${r.aggregation}|${r.sessionId}`;
    if ((last.get(k)?.version ?? -1) < r.version) last.set(k, r);
  }
  return new Map([...last.values()].map((r) => [keyWindowIdentity(r), r]));
}

jest.setTimeout(5 * 60_000);
test('session and stagger results of a seeded workload equal the independent reference', async () => {
  const runId = `ss${randomBytes(3).toString('hex')}-`;
  const events: Record<string, unknown>[] = WORKLOAD.map((e) => ({ ...e, site: `${runId}${e.site}`, deviceId: `${runId}${e.deviceId}` }));
  const lastTs = Math.max(...WORKLOAD.map((e) => e.ts));
  const flushTs = lastTs + 3_600_000;
  const laneOf = (site: string) => (site.endsWith('s1') ? `shardId-${runId}b` : `shardId-${runId}a`);
  const sites = [...new Set(events.map((e) => String(e.site)))];
  const flush = sites.map((site) => ({ ts: flushTs, site, deviceId: `${runId}flush`, temperature: 0 }));
  for (const lane of new Set(sites.map(laneOf))) {
    const mine = [...events, ...flush].filter((e) => laneOf(String(e.site)) === lane);
    const recs = mine.map((e, i) => ({ partitionKey: String(e.site), data: JSON.stringify(e), sequenceNumber: sequenceNumber(i + 1) }));
    for (let i = 0; i < recs.length; i += 40) {
      expect(await handler(kinesisEvent(lane, recs.slice(i, i + 40)))).toStrictEqual({ batchItemFailures: [] });
      // A redelivery of the second batch: its fences make it a no-op.
      if (i === 40) expect(await handler(kinesisEvent(lane, recs.slice(i, i + 40)))).toStrictEqual({ batchItemFailures: [] });
    }
  }

  // Every window of the workload ends before the flush events, whose own windows stay open.
  const expected = new Map([...referenceKeyWindows(SPEC, [...events, ...flush])].filter(([, w]) => w.endMs <= flushTs));
  const reader = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix);
  const actual = await pollUntil(
    async () => liveResults(((await reader.readAll()) as WindowResult[]).filter((r) => Object.values(r.key).some((v) => String(v).startsWith(runId)))),
    (live) => live.size >= expected.size,
    { timeoutMs: 60_000, describe: (live) => `${live?.size ?? 0} of ${expected.size} windows delivered` },
  );
  expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
  for (const [id, r] of actual) {
    expect(r.final).toBe(true);
    expect(measuresClose(r.measures, expected.get(id)!.measures)).toBe(true);
  }
  // `pipeline query` reads a key's sessions from its item: reference windows, the key's last one among them (the item
  // drops the windows a gap plus the lateness behind the watermark at its next write).
  const one = { site: `${runId}s1`, deviceId: `${runId}d4` };
  const queried = await queryWindows(clients.doc, outputs.WindowTableName, compileSpec(SPEC), { aggregation: 'device_sessions', key: one });
  const mine = [...expected.values()].filter((w) => w.aggregation === 'device_sessions' && w.key.deviceId === one.deviceId);
  expect(queried.length).toBeGreaterThan(0);
  for (const r of queried) {
    expect(r.final && r.sessionId !== undefined).toBe(true);
    expect(measuresClose(r.measures, expected.get(keyWindowIdentity(r))!.measures)).toBe(true);
  }
  const lastOfKey = mine.reduce((a, b) => (b.endMs > a.endMs ? b : a));
  expect(queried.map((r) => keyWindowIdentity(r))).toContain(keyWindowIdentity(lastOfKey));

  // The workload has merging sessions: some results supersede others.
  const all = (await reader.readAll()) as WindowResult[];
  expect(all.some((r) => Object.values(r.key).some((v) => String(v).startsWith(runId)) && (r.supersedes?.length ?? 0) > 0)).toBe(true);
});
