import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { specJsonFromSql } from '../../scripts/cli/spec-command';
import { KdaSqlError } from '../../scripts/lib/kda-sql/errors';
import { translateKdaSql } from '../../scripts/lib/kda-sql/translate';
import { parseAggregationSpec } from '../../lambda/domain/spec';

const sqlOf = (name: string) => readFileSync(join(__dirname, '..', '..', 'fixtures', 'kda', `${name}.sql`), 'utf8');
const opts = { eventTimeField: 'event_time', key: 'exchange' } as const;

/** What each of AWS's example queries (as adapted in fixtures/kda) must translate to, written out by hand. */
const EXPECTED: Record<string, unknown> = {
  'tumbling-count': {
    eventTime: { field: 'event_time' },
    aggregations: [{ name: 'stream_pump', groupBy: ['ticker_symbol'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 'ticker_count', op: 'count' }] }],
  },
  'tumbling-min-max': {
    eventTime: { field: 'event_time' },
    aggregations: [
      {
        name: 'stream_pump',
        groupBy: ['ticker_symbol'],
        window: { type: 'tumbling', sizeSeconds: 60 },
        measures: [
          { name: 'min_price', op: 'min', field: 'price' },
          { name: 'max_price', op: 'max', field: 'price' },
        ],
      },
    ],
  },
  'count-distinct': {
    eventTime: { field: 'event_time' },
    aggregations: [{ name: 'stream_pump', groupBy: ['exchange'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 'distinct_ticker_symbol', op: 'distinct', field: 'ticker_symbol' }] }],
  },
  'top-k': {
    eventTime: { field: 'event_time' },
    aggregations: [{ name: 'stream_pump', groupBy: ['exchange'], window: { type: 'tumbling', sizeSeconds: 60 }, measures: [{ name: 'top_ticker_symbol', op: 'topK', field: 'ticker_symbol', k: 5 }] }],
  },
  stagger: {
    eventTime: { field: 'event_time' },
    aggregations: [{ name: 'stream_pump', groupBy: ['ticker_symbol'], window: { type: 'stagger', sizeSeconds: 60 }, measures: [{ name: 'ticker_count', op: 'count' }] }],
  },
};

describe('pipeline spec from-sql: the guide\'s five queries', () => {
  test.each(Object.keys(EXPECTED))('%s translates to its spec', (name) => {
    expect(translateKdaSql(sqlOf(name), opts).spec).toStrictEqual(EXPECTED[name]);
  });
  test.each(Object.keys(EXPECTED))('%s is a valid spec, and the CLI prints it', (name) => {
    const notes: string[] = [];
    const json = specJsonFromSql(sqlOf(name), `${name}.sql`, { ...opts, fieldCase: 'lower' }, (l) => notes.push(l));
    expect(JSON.parse(json)).toStrictEqual(EXPECTED[name]);
    expect(() => parseAggregationSpec(JSON.parse(json))).not.toThrow();
    expect(notes.join('\n')).toMatch(/ROWTIME \(KDA's arrival time\) maps to the event-time field "event_time"|several time groupings/);
  });
});

describe('pipeline spec from-sql: the subset', () => {
  const one = (select: string, o: Parameters<typeof translateKdaSql>[1] = {}) => translateKdaSql(select, o).spec.aggregations[0];
  test('a bare SELECT STREAM, every aggregate, FLOOR windows and name folding', () => {
    expect(one(`SELECT STREAM "Region", city, COUNT(*), SUM(amount) AS Total, AVG(amount), COUNT(DISTINCT user_id) AS Users
      FROM s GROUP BY "Region", city, FLOOR(ROWTIME TO HOUR)`)).toStrictEqual({
      name: 'query_1',
      groupBy: ['Region', 'city'],
      window: { type: 'tumbling', sizeSeconds: 3600 },
      measures: [
        { name: 'count', op: 'count' },
        { name: 'total', op: 'sum', field: 'amount' },
        { name: 'avg_amount', op: 'avg', field: 'amount' },
        { name: 'users', op: 'distinct', field: 'user_id' },
      ],
    });
  });
  test('--field-case upper and preserve; quoted names always kept', () => {
    const sql = `SELECT STREAM Ticker, "x", MAX(Price) FROM s GROUP BY Ticker, "x", STEP(ROWTIME BY INTERVAL '5' MINUTE)`;
    expect(one(sql, { fieldCase: 'upper' }).groupBy).toStrictEqual(['TICKER', 'x']);
    expect(one(sql, { fieldCase: 'preserve' }).measures).toStrictEqual([{ name: 'max_price', op: 'max', field: 'Price' }]);
    expect(one(sql).window).toStrictEqual({ type: 'tumbling', sizeSeconds: 300 });
  });
  test('several pumps become several aggregations, with distinct names', () => {
    const sql = `CREATE OR REPLACE PUMP "P" AS INSERT INTO "A" SELECT STREAM a, COUNT(*) FROM s GROUP BY a, STEP(ROWTIME BY INTERVAL '1' MINUTE);
      CREATE PUMP p AS INSERT INTO "B" SELECT STREAM b, COUNT(*) FROM s GROUP BY b, STEP(s.ROWTIME BY INTERVAL '10' SECOND);`;
    expect(translateKdaSql(sql).spec.aggregations.map((a) => [a.name, a.groupBy])).toStrictEqual([['p', ['a']], ['p_2', ['b']]]);
  });
  test("comments, doubled quotes and a ';' inside a quoted name inside do not confuse the scanner", () => {
    const sql = `-- SELECT WHERE JOIN\n/* ORDER BY */ SELECT STREAM "Sector Name", COUNT(*) AS "n" FROM "S;T" GROUP BY "Sector Name", STEP(ROWTIME BY INTERVAL '1' SECOND)`;
    expect(one(sql)).toMatchObject({ groupBy: ['Sector Name'], measures: [{ name: 'n', op: 'count' }] });
  });
});

describe('pipeline spec from-sql: refusals name the construct and the nearest supported form', () => {
  const g = `GROUP BY a, STEP(ROWTIME BY INTERVAL '1' MINUTE)`;
  test.each([
    ['WHERE', `SELECT STREAM a, COUNT(*) FROM s WHERE sector SIMILAR TO '%TECH%' ${g}`, /WHERE .*not supported: filter records before they reach the stream/],
    ['JOIN', `SELECT STREAM a, COUNT(*) FROM s JOIN t ON s.a = t.a ${g}`, /JOIN.*not supported: enrich the records at the producer/],
    ['HAVING', `SELECT STREAM a, COUNT(*) FROM s ${g} HAVING COUNT(*) > 2`, /HAVING.*filter the window results downstream/],
    ['ORDER BY', `SELECT STREAM a, COUNT(*) AS c FROM s ${g} ORDER BY c`, /ORDER BY.*TOP_K_ITEMS_TUMBLING/],
    ['a sliding window', `SELECT STREAM a, AVG(p) OVER w FROM s WINDOW w AS (PARTITION BY a RANGE INTERVAL '1' MINUTE PRECEDING)`, /sliding windows .*not supported: use a tumbling window/],
    ['no time window', `SELECT STREAM a, COUNT(*) FROM s GROUP BY a`, /GROUP BY without a time window .*add STEP\(ROWTIME BY INTERVAL/],
    ['an ungrouped column', `SELECT STREAM a, b, COUNT(*) FROM s ${g}`, /column b .*neither a GROUP BY key nor aggregated/],
    ['an expression', `SELECT STREAM a, SUM(p * q) FROM s ${g}`, /SUM over an expression .*compute derived fields at the producer/],
    ['an unknown aggregate', `SELECT STREAM a, STDDEV_POP(p) FROM s ${g}`, /function STDDEV_POP .*not supported: use COUNT, SUM, MIN, MAX or AVG/],
    ['STEP over an integer', `SELECT STREAM a, COUNT(*) FROM s GROUP BY a, STEP(n BY 5)`, /STEP over an integer .*use STEP\(ROWTIME BY INTERVAL/],
    ['a compound interval', `SELECT STREAM a, COUNT(*) FROM s GROUP BY a, STEP(ROWTIME BY INTERVAL '1:30' MINUTE TO SECOND)`, /unsupported interval unit/],
    ['another table function', `SELECT STREAM * FROM TABLE(RANDOM_CUT_FOREST(CURSOR(SELECT STREAM * FROM s)))`, /RANDOM_CUT_FOREST .*not supported: the subset covers COUNT_DISTINCT_ITEMS_TUMBLING and TOP_K_ITEMS_TUMBLING/],
    ['a filtered cursor', `SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s WHERE x = 1), 'A', 3, 60))`, /only CURSOR\(SELECT STREAM \* FROM <stream>\)/],
    ['a table function without --key', `SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'A', 3, 60))`, /pass --key <field>/],
    ['stagger with GROUP BY', `SELECT STREAM a, COUNT(*) FROM s GROUP BY a WINDOWED BY STAGGER (PARTITION BY a RANGE INTERVAL '1' MINUTE)`, /takes its keys from PARTITION BY: drop the GROUP BY/],
    ['another statement', `CREATE TABLE t (a INT)`, /statement at line 1, column 1 .*not supported: write CREATE OR REPLACE PUMP/],
    ['SELECT DISTINCT', `SELECT STREAM DISTINCT a, COUNT(*) FROM s ${g}`, /SELECT DISTINCT.*COUNT_DISTINCT_ITEMS_TUMBLING/],
    ['an unterminated string', `SELECT STREAM 'abc`, /unterminated string at line 1, column 15/],
    ['nothing', `CREATE OR REPLACE STREAM "D" (a INT);`, /no query found/],
  ])('%s', (_, sql, message) => {
    expect(() => translateKdaSql(sql)).toThrow(KdaSqlError);
    expect(() => translateKdaSql(sql)).toThrow(message);
  });
  test('a k beyond the measure\'s bound is refused by the spec schema, naming the field', () => {
    const sql = `SELECT STREAM * FROM TABLE(TOP_K_ITEMS_TUMBLING(CURSOR(SELECT STREAM * FROM s), 'A', 1000, 60))`;
    expect(() => specJsonFromSql(sql, 'q.sql', { eventTimeField: 'ts', fieldCase: 'lower', key: 'k' }, () => undefined)).toThrow(/aggregations\[0\]\.measures\[0\]\.k/);
  });
});
