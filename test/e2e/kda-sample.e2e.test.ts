/**
 * The migration guide's queries end to end: the spec `pipeline spec from-sql` makes of four of AWS's KDA examples
 * (tumbling counts, MIN/MAX over STEP, COUNT_DISTINCT_ITEMS_TUMBLING, TOP_K_ITEMS_TUMBLING, in one spec), the committed
 * seeded sample (fixtures/kda-sample.ndjson), and the real bundled aggregator under adversarial redelivery against the
 * deployed table, compared with an independent reference fold.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { awsClients } from '../../scripts/lib/aws-target';
import { translateKdaSql } from '../../scripts/lib/kda-sql/translate';
import { REPO_ROOT } from '../../scripts/local/local-stack';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { proxiedAggregator } from '../support/proxied-aggregator';
import { sequenceNumber } from '../support/harness';
import { measuresClose, referenceAggregate } from '../support/reference';
import { playSchedule, stepArb } from '../support/redelivery';
import { readTableWindows } from '../support/table-windows';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const endpoint = process.env.E2E_ENDPOINT;
const clients = awsClients({ endpoint });

const QUERIES = ['tumbling-count', 'tumbling-min-max', 'count-distinct', 'top-k'];
/**
 * The guide's translation, with a lateness longer than the sample's disorder (so that the reference is a plain fold)
 * and a topK of 3 with 3 counters, below the tickers per exchange, so that the summary prunes and its bound is under test.
 */
const SPEC = (() => {
  const sql = QUERIES.map((q) => readFileSync(join(REPO_ROOT, 'fixtures', 'kda', `${q}.sql`), 'utf8')).join('\n');
  const { spec } = translateKdaSql(sql, { eventTimeField: 'event_time', key: 'exchange' });
  for (const a of spec.aggregations) {
    a.allowedLatenessSeconds = 3600;
    for (const m of a.measures as Record<string, unknown>[]) if (m.op === 'topK') Object.assign(m, { k: 3, capacity: 3 });
  }
  return parseAggregationSpec(spec);
})();
const SAMPLE = readFileSync(join(REPO_ROOT, 'fixtures', 'kda-sample.ndjson'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

const aggregator = proxiedAggregator(outputs, endpoint, SPEC, 'KdaSampleE2e');

interface Rec {
  readonly partitionKey: string;
  readonly data: Buffer;
  readonly sequenceNumber: string;
  readonly event: Record<string, unknown>;
}

jest.setTimeout(10 * 60_000);
test('the guide\'s translated queries over the sample: the table equals the reference fold under redelivery', async () => {
  expect(SPEC.aggregations.map((a) => a.name)).toStrictEqual(['stream_pump', 'stream_pump_2', 'stream_pump_3', 'stream_pump_4']);
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb(40), { maxLength: 14 }), async (steps) => {
      // The run's own keys: ticker and exchange values carry its id, so that runs against one stack stay apart.
      const runId = `kd${randomBytes(3).toString('hex')}-`;
      const recs: Rec[] = SAMPLE.map((e, i) => {
        const event = { ...e, ticker_symbol: `${runId}${String(e.ticker_symbol)}`, exchange: `${runId}${String(e.exchange)}` };
        return { partitionKey: String(event.exchange), data: Buffer.from(JSON.stringify(event)), sequenceNumber: sequenceNumber(i + 1), event };
      });
      const lane = `shardId-${runId}lane`;
      await playSchedule(recs, steps, aggregator.deliveryTo<Rec>(lane));
      const expected = referenceAggregate(SPEC, recs.map((r) => r.event));
      const actual = await readTableWindows(clients.doc, outputs.WindowTableName, SPEC, runId);
      expect([...actual.keys()].sort()).toStrictEqual([...expected.keys()].sort());
      for (const [id, w] of actual) expect({ id, close: measuresClose(w.measures, expected.get(id)!.measures) }).toStrictEqual({ id, close: true });
    }),
    { numRuns: 2 },
  );
});
