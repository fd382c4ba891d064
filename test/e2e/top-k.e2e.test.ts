/**
 * The topK measure end to end: a spec of its own (top pages and event types per user and minute, with a capacity small
 * enough that the summaries prune), a seeded clickstream, the real bundled aggregator driven as the event source
 * mapping would drive it under adversarial redelivery (crashes injected by a proxy in front of the emulator), against
 * the deployed table and results stream. The table must hold, per window, a summary within the documented bound of
 * an independent exact count of the distinct records; every emitted result carries its topK lists.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { NdjsonPrefixReader } from '../../scripts/lib/s3-sinks';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { generateClickstreamWorkload } from '../../scripts/workload';
import { proxiedAggregator } from '../support/proxied-aggregator';
import { kinesisEvent, sequenceNumber } from '../support/harness';
import { measuresClose, referenceAggregate, topKWithinBound, type ExactTopK } from '../support/reference';
import { playSchedule, stepArb } from '../support/redelivery';
import { readTableWindows } from '../support/table-windows';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const endpoint = process.env.E2E_ENDPOINT;
const clients = awsClients({ endpoint });

/** Lateness longer than any schedule's disorder, so that every record counts and the reference is a plain fold. */
const SPEC = parseAggregationSpec({
  eventTime: { field: 'ts' },
  aggregations: [
    {
      name: 'user_top_pages',
      groupBy: ['userId'],
      window: { type: 'tumbling', sizeSeconds: 60 },
      allowedLatenessSeconds: 3600,
      measures: [
        { name: 'events', op: 'count' },
        // Nine pages, three counters: the summary prunes, so the bound is what the test checks.
        { name: 'top_pages', op: 'topK', field: 'page', k: 3, capacity: 3 },
        { name: 'top_event_types', op: 'topK', field: 'eventType', k: 2 },
      ],
    },
  ],
});

const aggregator = proxiedAggregator(outputs, endpoint, SPEC, 'TopKE2e');

interface Rec {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly sequenceNumber: string;
  readonly event: Record<string, unknown>;
}

function records(seed: number, runId: string, count: number): Rec[] {
  return generateClickstreamWorkload({ seed, count, startMs: 1_700_000_000_000, users: 4, stepMs: 500, idPrefix: runId }).map((w, i) => ({
    partitionKey: w.partitionKey,
    data: Buffer.from(w.data),
    sequenceNumber: sequenceNumber(i + 1),
    event: w.event!,
  }));
}

jest.setTimeout(10 * 60_000);
describe('topK: the bundled handler under redelivery', () => {
  test('the table holds every window\'s summary within the bound of the exact counts; results carry the lists', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(stepArb(30), { maxLength: 12 }), async (seed, steps) => {
        const runId = `tk${randomBytes(3).toString('hex')}-`;
        const recs = records(seed, runId, 240);
        const lane = `shardId-${runId}lane`;
        await playSchedule(recs, steps, aggregator.deliveryTo<Rec>(lane));
        // A last clean delivery emits whatever a failed attempt left pending.
        await aggregator.invoke(kinesisEvent(lane, recs.slice(-1)));

        const expected = referenceAggregate(SPEC, recs.map((r) => r.event));
        const actual = await readTableWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
        expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
        let pruned = 0;
        for (const [id, w] of actual) {
          expect(measuresClose(w.measures, expected.get(id)!.measures)).toBe(true);
          if ((expected.get(id)!.measures.top_pages as ExactTopK).exactTopK.size > 3) pruned++;
        }
        // The workload is dense enough that summaries had to prune: the bound, not exactness, is under test.
        expect(pruned).toBeGreaterThan(0);

        const lines = (await new NdjsonPrefixReader(clients.s3, outputs.BucketName, outputs.ResultsPrefix).readAll()) as {
          id: string;
          key: Record<string, unknown>;
          windowStart: string;
          topK?: Record<string, unknown>;
        }[];
        const mine = lines.filter((l) => typeof l.key?.userId === 'string' && l.key.userId.startsWith(runId));
        expect(mine.length).toBeGreaterThan(0);
        for (const l of mine) {
          expect(Object.keys(l.topK ?? {}).sort()).toStrictEqual(['top_event_types', 'top_pages']);
          // Any version's list honours the bound against the whole window's counts only once final; a list is at
          // most k long and sorted whatever the version.
          const pages = l.topK!.top_pages as { count: number }[];
          expect(pages.length).toBeLessThanOrEqual(3);
          expect(pages.map((p) => p.count)).toStrictEqual([...pages.map((p) => p.count)].sort((a, b) => b - a));
        }
        // The latest version of each window in the stream is within the bound of the exact counts.
        const latest = new Map<string, (typeof mine)[number] & { version?: number }>();
        for (const l of mine as ((typeof mine)[number] & { version: number })[]) {
          const k = JSON.stringify([l.key, l.windowStart]);
          if ((latest.get(k)?.version ?? -1) < l.version) latest.set(k, l);
        }
        for (const l of latest.values()) {
          const ref = [...expected.values()].find((w) => w.key.userId === l.key.userId && w.windowStart === l.windowStart)!;
          expect(topKWithinBound(l.topK!.top_event_types, ref.measures.top_event_types as ExactTopK)).toBe(true);
        }
      }),
      { numRuns: 3 },
    );
  });
});
