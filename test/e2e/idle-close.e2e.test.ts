/**
 * Windows close when traffic stops: a shard that delivers a few events and then nothing never moves its watermark
 * past their window, so only the scheduled idle closer (processing time) can fire it. The events are delivered to the
 * deployed aggregator as the event source mapping would, from a shard id of their own, so that no other traffic moves
 * that lane's watermark; the closer is left to its real EventBridge schedule.
 */
import { randomBytes } from 'node:crypto';

import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { parseAggregationSpecJson } from '../../lambda/domain/spec';
import { awsClients, clientConfig } from '../../scripts/lib/aws-target';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { pollUntil } from '../support/poll';
import { readTableWindows } from '../support/table-windows';
import { measuresClose, referenceAggregate, windowIdentity } from '../support/reference';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const spec = parseAggregationSpecJson(outputs.AggregationSpec, 'deployed AggregationSpec');
const target = { endpoint: process.env.E2E_ENDPOINT };
const clients = awsClients(target);
const lambda = new LambdaClient(clientConfig(target));
/** The closer runs every minute by default; allow two periods and some slack. */
const TIMEOUT_MS = Number(process.env.E2E_IDLE_TIMEOUT_MS ?? 180_000);

const runId = `idle${randomBytes(3).toString('hex')}-`;

const ourWindows = () => readTableWindows(clients.doc, outputs.WindowTableName, spec, runId);

jest.setTimeout(10 * 60_000);
describe('idle shards', () => {
  test('the scheduled closer fires windows whose end plus lateness has passed, once', async () => {
    expect(outputs.IdleCloserFunctionName).toBeTruthy();
    // Ten minutes back: every window of these events (the longest is 5 minutes) has ended, lateness included.
    const t0 = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
    const events = [5_000, 10_000, 20_000].map((dt, i) => ({
      deviceId: `${runId}dev`,
      site: `${runId}site`,
      ts: t0 + dt,
      temperature: 20 + i,
    }));
    const event = kinesisEvent(
      `shardId-${runId}quiet`,
      events.map((e, i) => ({ data: JSON.stringify(e), partitionKey: e.deviceId, sequenceNumber: sequenceNumber(i) })),
    );
    const res = await lambda.send(new InvokeCommand({ FunctionName: outputs.AggregatorFunctionName, Payload: JSON.stringify(event) }));
    expect(res.FunctionError).toBe(undefined);
    expect(JSON.parse(Buffer.from(res.Payload!).toString())).toStrictEqual({ batchItemFailures: [] });

    const expected = referenceAggregate(spec, events);
    const before = await ourWindows();
    expect([...before.keys()].sort()).toStrictEqual([...expected.keys()].sort());
    expect([...before.values()].every((w) => w.version === 0)).toBe(true);

    const fired = await pollUntil(ourWindows, (ws) => [...ws.values()].every((w) => w.version > 0), {
      timeoutMs: TIMEOUT_MS,
      intervalMs: 2000,
      describe: (ws) => `${ws ? [...ws.values()].filter((w) => w.version === 0).length : '?'} windows still open`,
    });
    for (const [id, w] of fired) {
      expect(w.version).toBe(1);
      expect(measuresClose(w.measures, expected.get(id)!.measures)).toBe(true);
    }

    const results = new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix);
    const ours = (lines: unknown[]) =>
      (lines as { id: string; aggregation: string; key: Record<string, unknown>; windowStart: string; version: number; final: boolean; measures: Record<string, unknown> }[]).filter(
        (l) => l.key && Object.values(l.key).some((v) => String(v).startsWith(runId)),
      );
    const emitted = await pollUntil(() => results.readAll(), (l) => new Set(ours(l).map((r) => windowIdentity(r))).size === expected.size, {
      timeoutMs: 60_000,
      describe: (l) => `${l ? ours(l).length : 0} of ${expected.size} closed windows in S3`,
    });
    for (const r of ours(emitted)) {
      expect(r.version).toBe(1);
      expect(r.final).toBe(true);
      expect(measuresClose(r.measures, expected.get(windowIdentity(r))!.measures)).toBe(true);
    }
  });
});
