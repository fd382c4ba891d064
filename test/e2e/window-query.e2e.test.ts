/**
 * `pipeline query` on a per-shard window, through the real window store and DynamoDB client: while the window is
 * open its content is only in the lanes' partials, after it fires the root holds the snapshot, and a correction
 * waiting for the closer is again only in a partial. Each stage must read as the plain fold of the events so far.
 */
import { randomBytes } from 'node:crypto';

import { DynamoWindowStore } from '../../lambda/adapters/dynamodb-window-store';
import { addEvent, emptyState, mergeInto, type AggregateState } from '../../lambda/domain/aggregate-state';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { positionOf } from '../../lambda/domain/sequence';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { windowId, type WindowRef } from '../../lambda/domain/window-ref';
import { awsClients } from '../../scripts/lib/aws-target';
import { readStackOutputs } from '../../scripts/lib/stack-outputs';
import { queryWindows } from '../../scripts/lib/window-query';
import { sequenceNumber } from '../support/harness';

const outputsFile = process.env.E2E_OUTPUTS_FILE;
if (!outputsFile) throw new Error('E2E_OUTPUTS_FILE is not set: run the e2e suite through "npm test"');
const outputs = readStackOutputs(outputsFile);
const clients = awsClients({ endpoint: process.env.E2E_ENDPOINT });
const store = new DynamoWindowStore(clients.doc, { tableName: outputs.WindowTableName });

const spec = compileSpec(
  parseAggregationSpec({
    eventTime: { field: 'ts' },
    aggregations: [
      {
        name: 'wq_any_1m',
        groupBy: ['k'],
        window: { type: 'tumbling', sizeSeconds: 60 },
        state: 'per-shard',
        measures: [
          { name: 'n', op: 'count' },
          { name: 'total', op: 'sum', field: 'v' },
          { name: 'hi', op: 'max', field: 'v' },
        ],
      },
    ],
  }),
);
const agg = spec.aggregations[0];

/** The reference: count, sum and max of the values, computed plainly. */
function fold(values: readonly number[]): Record<string, number | null> {
  return { n: values.length, total: values.reduce((a, b) => a + b, 0), hi: values.length > 0 ? Math.max(...values) : null };
}

function stateOf(values: readonly number[]): AggregateState {
  const s = emptyState(agg.layout);
  for (const v of values) addEvent(agg.layout, s, { v });
  return s;
}

jest.setTimeout(2 * 60_000);

test('a per-shard window reads as the fold of its events while open, once fired, and with a correction pending', async () => {
  const key = `wq${randomBytes(4).toString('hex')}`;
  const start = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
  const ref: WindowRef = { aggregation: agg, keyJson: JSON.stringify([key]), start, end: start + 60_000 };
  const [laneA, laneB] = [`shardId-${key}-a`, `shardId-${key}-b`];
  const valuesA = [3, 1.5, -2];
  const valuesB = [10, 4];
  const read = async () => {
    const results = await queryWindows(clients.doc, outputs.WindowTableName, spec, { aggregation: agg.name, key: { k: key } });
    return results.map((r) => ({ measures: r.measures, final: r.final, version: r.version }));
  };
  const now = Date.now();

  // Open: each lane registered and wrote its partial, as a batch does; nothing has fired.
  for (const [lane, values] of [[laneA, valuesA], [laneB, valuesB]] as const) {
    await store.registerLane(ref, lane, now);
    const fence = positionOf(sequenceNumber(values.length));
    expect(await store.writePartial({ ref, lane }, { state: stateOf(values), fence, rev: 1, sealed: false, dirty: false }, undefined, now)).toBe('written');
  }
  expect(await read()).toStrictEqual([{ measures: fold([...valuesA, ...valuesB]), final: false, version: 0 }]);

  // Fired: the root holds the merged snapshot at version 1, as a firing writes it.
  const root = (await store.getWindows([ref], true)).get(windowId(agg.name, ref.keyJson, ref.start))!;
  const snapshot = stateOf(valuesA);
  mergeInto(agg.layout, snapshot, stateOf(valuesB));
  expect(await store.writeWindow(ref, { state: snapshot, fences: {}, lanes: [laneA, laneB], version: 1, pending: false, rev: root.rev + 1 }, root.rev, now)).toBe('written');
  expect(await read()).toStrictEqual([{ measures: fold([...valuesA, ...valuesB]), final: true, version: 1 }]);

  // A late event on lane B: its partial changes as a correction (dirty) that the closer will fire as version 2.
  const lateB = [...valuesB, 100];
  const fence = positionOf(sequenceNumber(lateB.length));
  expect(await store.writePartial({ ref, lane: laneB }, { state: stateOf(lateB), fence, rev: 2, sealed: false, dirty: true }, 1, now)).toBe('written');
  expect(await read()).toStrictEqual([{ measures: fold([...valuesA, ...lateB]), final: true, version: 1 }]);
});
