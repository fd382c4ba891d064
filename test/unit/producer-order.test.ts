/**
 * The producer never reorders the records of a partition key across retries, never sends a record twice, and a bad
 * input line never leaves a run half-sent without saying exactly where to resume.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { compilePartitionKey } from '../../lambda/domain/partition-key';
import { InvalidInputError, invalidLines, ndjsonRecords, produce, withPartitionKey } from '../../scripts/cli/produce';
import { Producer } from '../../scripts/lib/producer';

const noSleep = async () => {};

/** A stream that fails chosen entries: `fails(data, attempt)` says whether this send of `data` is throttled. */
function flakyStream(fails: (data: string, attempt: number) => boolean) {
  const mock = mockClient(KinesisClient);
  const accepted: { partitionKey: string; data: string }[] = [];
  const tries = new Map<string, number>();
  mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
    const out = (input.Records ?? []).map((r) => {
      const data = Buffer.from(r.Data ?? new Uint8Array()).toString();
      const n = (tries.get(data) ?? 0) + 1;
      tries.set(data, n);
      if (fails(data, n)) return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' };
      accepted.push({ partitionKey: r.PartitionKey ?? '', data });
      return { ShardId: 'shardId-0', SequenceNumber: String(accepted.length) };
    });
    return { FailedRecordCount: out.filter((o) => 'ErrorCode' in o).length, Records: out };
  });
  return { mock, accepted };
}

describe('producer ordering', () => {
  test('a throttled record is delivered before the later records of its key, each record once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), failFirst: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 60 }),
        async (plan) => {
          const records = plan.map((p, i) => ({ partitionKey: p.key, data: `${p.key}-${i}` }));
          const failFirst = new Map(records.map((r, i) => [r.data, plan[i].failFirst]));
          const { mock, accepted } = flakyStream((data, n) => n <= failFirst.get(data)!);
          const producer = new Producer(new KinesisClient({}), { streamName: 's', maxAttempts: 5, sleep: noSleep });
          for (const r of records) await producer.put(r);
          await producer.close();
          for (const key of ['a', 'b', 'c']) {
            expect(accepted.filter((r) => r.partitionKey === key).map((r) => r.data)).toEqual(records.filter((r) => r.partitionKey === key).map((r) => r.data));
          }
          expect(accepted).toHaveLength(records.length);
          mock.restore();
        },
      ),
      { numRuns: 50 },
    );
  });

  test('without failures the stream gets every record in put order, across keys too (event-time lateness depends on it)', async () => {
    const { mock, accepted } = flakyStream(() => false);
    const producer = new Producer(new KinesisClient({}), { streamName: 's', sleep: noSleep });
    const keys = ['a', 'a', 'b', 'c', 'a', 'b', 'b', 'd', 'c'];
    for (const [i, key] of keys.entries()) await producer.put({ partitionKey: key, data: `${key}-${i}` });
    await producer.close();
    expect(accepted.map((r) => r.data)).toEqual(keys.map((k, i) => `${k}-${i}`));
    mock.restore();
  });

  test('a record that cannot be delivered holds back the later records of its key, reported in order', async () => {
    const { mock, accepted } = flakyStream((data) => data === 'a-0');
    const producer = new Producer(new KinesisClient({}), { streamName: 's', maxAttempts: 3, sleep: noSleep });
    for (const [i, key] of ['a', 'b', 'a', 'b', 'a'].entries()) await producer.put({ partitionKey: key, data: `${key}-${i}` });
    const failed = await producer.settle();
    expect(accepted.map((r) => r.data)).toEqual(['b-1', 'b-3']);
    expect(failed.map((f) => f.data)).toEqual(['a-0', 'a-2', 'a-4']);
    expect(failed[0].error).toMatch(/Rate exceeded/);
    expect(failed[1].error).toMatch(/held unsent.*Rate exceeded/);
    // A later put of the same key is held too, so that re-sending the failed records restores the order.
    await producer.put({ partitionKey: 'a', data: 'a-5' });
    expect((await producer.settle()).map((f) => f.data)).toEqual(['a-5']);
    mock.restore();
  });
});

describe('produce --file and stdin', () => {
  const lines = ['{"n":1}', '{"n":2}', '{"n":3}', 'oops', '{"n":5}'];

  test('a file with a bad line is refused whole, before anything is sent', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'produce-')), 'events.ndjson');
    writeFileSync(file, lines.join('\n') + '\n');
    const bad = await invalidLines(file, undefined);
    expect(bad).toEqual([expect.stringMatching(/^line 4: invalid JSON/)]);
  });

  test('stdin stops before the bad line, says to resume with --from-line, and resuming sends each record once', async () => {
    const { mock, accepted } = flakyStream(() => false);
    const first = await produce(new KinesisClient({}), ndjsonRecords('-', undefined, false, () => {}, Readable.from([lines.join('\n') + '\n'])), { streamName: 's', sleep: noSleep });
    expect(first.sourceError).toBeInstanceOf(InvalidInputError);
    expect((first.sourceError as Error).message).toMatch(/line 4: .*--from-line 4/);
    expect((first.sourceError as Error).message).not.toMatch(/^.*Use --skip-invalid to skip such lines\.$/);
    // The user fixes line 4 and resumes where they were told to.
    const fixed = [...lines.slice(0, 3), '{"n":4}', lines[4]];
    const second = await produce(
      new KinesisClient({}),
      ndjsonRecords('-', undefined, false, () => {}, Readable.from([fixed.join('\n') + '\n']), { fromLine: 4 }),
      { streamName: 's', sleep: noSleep },
    );
    expect(second.sourceError).toBeUndefined();
    expect(accepted.map((r) => (JSON.parse(r.data) as { n: number }).n)).toEqual([1, 2, 3, 4, 5]);
    mock.restore();
  });

  test("without --partition-key, the key comes from the spec's partitionKey fields, not the line number", async () => {
    const keyRule = compilePartitionKey(['site', 'zone']);
    const input = Readable.from(['{"site":"hq","zone":2,"v":1}\n{"site":"lab","zone":1}\n{"v":3}\n']);
    const bad: string[] = [];
    const out: { partitionKey: string }[] = [];
    for await (const r of ndjsonRecords('-', undefined, true, (_l, reason) => bad.push(reason), input, { keyRule })) out.push(r);
    expect(out.map((r) => r.partitionKey)).toEqual(['hq|2', 'lab|1']);
    expect(bad).toEqual([expect.stringMatching(/line 3: partition-key field "site" is missing/)]);
    const demo = [...withPartitionKey([{ partitionKey: 'line-1', data: '{}', event: { site: 'hq', zone: 1 } }], undefined, keyRule)];
    expect(demo[0].partitionKey).toBe('hq|1');
  });
});
