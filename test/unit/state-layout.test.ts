import { compileSpec } from '../../lambda/domain/compiled-spec';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import { compactLane, expandLane } from '../../lambda/contract/window-table-layout';

/** The `state` option: which layout each aggregation gets, as the README states the rule. */
const agg = (name: string, groupBy: string[], state?: string) => ({
  name,
  groupBy,
  window: { type: 'tumbling', sizeSeconds: 60 },
  measures: [{ name: 'n', op: 'count' }],
  ...(state ? { state } : {}),
});

describe('state layout', () => {
  test.each([
    // [partitionKey, groupBy, state, per shard]
    [undefined, ['site'], undefined, false],
    [['deviceId'], ['site'], undefined, true],
    [['deviceId'], ['site', 'deviceId'], undefined, false],
    [['deviceId'], ['site'], 'single', false],
    [undefined, ['site'], 'per-shard', true],
    [['site'], ['site'], 'per-shard', true],
    [['site', 'region'], ['site'], 'auto', true],
  ] as const)('partitionKey %j, groupBy %j, state %s: per shard %s', (partitionKey, groupBy, state, perShard) => {
    const spec = parseAggregationSpec({ eventTime: { field: 'ts' }, ...(partitionKey ? { partitionKey } : {}), aggregations: [agg('a', [...groupBy], state)] });
    expect(compileSpec(spec).aggregations[0].perShard).toBe(perShard);
  });

  test('an unknown state is refused naming the field', () => {
    expect(() => parseAggregationSpec({ eventTime: { field: 'ts' }, aggregations: [agg('a', ['site'], 'sharded')] })).toThrow(/aggregations\[0\]\.state/);
  });

  test.each(['shardId-000000000000', 'shardId-000000000123', 'shardId-999999999999', 'lane-a', '123', '~x', 'a#b%c'])('compact lane name of %s reads back', (lane) => {
    expect(expandLane(compactLane(lane))).toBe(lane);
    expect(compactLane(lane)).not.toContain('#');
  });
});
