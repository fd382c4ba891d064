import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { KinesisClient, PutRecordsCommand, type PutRecordsCommandInput } from '@aws-sdk/client-kinesis';
import { mockClient } from 'aws-sdk-client-mock';
import { InvalidInputError, ndjsonRecords, produce, progressLine, writeFailedRecords } from '../../scripts/cli/produce';
import { generateClickstreamWorkload, generateIotWorkload } from '../../scripts/workload';

const noSleep = async () => {};

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('produce', () => {
  test('a run continues past failed batches and hands back every record that still failed', async () => {
    const mock = mockClient(KinesisClient);
    const delivered: string[] = [];
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => {
      const out = input.Records!.map((r) => {
        const data = Buffer.from(r.Data!).toString();
        // Every record whose number ends in 7 always fails.
        if (data.endsWith('7')) return { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded' };
        delivered.push(data);
        return { ShardId: 'shardId-0', SequenceNumber: '1' };
      });
      return { FailedRecordCount: out.filter((o: { ErrorCode?: string }) => o.ErrorCode).length, Records: out };
    });
    const source = Array.from({ length: 1234 }, (_, i) => ({ partitionKey: `p${i}`, data: `r${i}` }));
    const result = await produce(new KinesisClient({}), source, { streamName: 's', maxAttempts: 3, sleep: noSleep });
    const failedData = result.failures.map((f) => String(f.data));
    expect(result.failed).toBe(source.filter((r) => r.data.endsWith('7')).length);
    expect([...delivered, ...failedData].sort()).toStrictEqual(source.map((r) => r.data).sort());
    expect(result.sent).toBe(delivered.length);
    expect(result.failures.every((f) => f.error === 'ProvisionedThroughputExceededException: Rate exceeded')).toBe(true);
    expect(result.sourceError).toBe(undefined);
    mock.restore();
  });

  test('what was read before a bad input line is still sent, and the error names the line', async () => {
    const mock = mockClient(KinesisClient);
    mock.on(PutRecordsCommand).callsFake((input: PutRecordsCommandInput) => ({ FailedRecordCount: 0, Records: input.Records!.map(() => ({ ShardId: 's', SequenceNumber: '1' })) }));
    const input = Readable.from(['{"a":1}\n{"a":2}\n\n{"a":\n{"a":4}\n']);
    const result = await produce(new KinesisClient({}), ndjsonRecords('events.ndjson', undefined, false, () => {}, input), { streamName: 's', sleep: noSleep });
    expect(result.sent).toBe(2);
    expect(result.sourceError).toBeInstanceOf(InvalidInputError);
    expect(result.sourceError).toHaveProperty('line', 4);
    expect((result.sourceError as InvalidInputError).message).toMatch(/events\.ndjson: line 4: invalid JSON/);
    mock.restore();
  });
});

describe('ndjsonRecords', () => {
  test('--skip-invalid counts bad lines with their numbers and keeps the rest; keys come from the field', async () => {
    const bad: number[] = [];
    const input = Readable.from(['{"d":"x","v":1}\nnot json\n[1,2]\n{"v":3}\n{"d":7}\n']);
    const records = await collect(ndjsonRecords('-', 'd', true, (line) => bad.push(line), input));
    expect(records).toStrictEqual([
      { partitionKey: 'x', data: '{"d":"x","v":1}' },
      { partitionKey: '7', data: '{"d":7}' },
    ]);
    expect(bad).toStrictEqual([2, 3, 4]);
  });

  test('without --skip-invalid a missing partition key field stops with the line number', async () => {
    const input = Readable.from(['{"d":"x"}\n{"e":1}\n']);
    await expect(collect(ndjsonRecords('-', 'd', false, () => {}, input))).rejects.toThrow(/stdin: line 2: no usable partition key field "d"/);
  });
});

describe('failed-records file', () => {
  test('one line per record: partitionKey, data (or dataBase64) and error', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'failed-')), 'sub', 'failed.ndjson');
    writeFailedRecords(file, [
      { partitionKey: 'a', data: '{"x":1}', error: 'InternalFailure' },
      { partitionKey: 'b', data: Uint8Array.from([0xff, 0x00]), error: 'RecordTooLarge' },
    ]);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toStrictEqual([
      { partitionKey: 'a', data: '{"x":1}', error: 'InternalFailure' },
      { partitionKey: 'b', dataBase64: '/wA=', error: 'RecordTooLarge' },
    ]);
  });
});

describe('progress line', () => {
  test('a bar when the total is known, counts otherwise', () => {
    const s = { sent: 50, retried: 2, failed: 0, invalidLines: 0, elapsedMs: 1000 };
    expect(progressLine(s, 100)).toMatch(/^\[#{15}-{15}\] {2}50% {2}sent 50 {2}retried 2 {2}failed 0 {2}50 rec\/s$/);
    expect(progressLine(s, undefined)).toBe('sent 50  retried 2  failed 0  50 rec/s');
  });
});

describe('workloads', () => {
  test('the clickstream is seeded, well formed, and keeps a session on one partition key', () => {
    const a = generateClickstreamWorkload({ seed: 7, count: 500, startMs: 1_700_000_000_000, idPrefix: 't-' });
    const b = generateClickstreamWorkload({ seed: 7, count: 500, startMs: 1_700_000_000_000, idPrefix: 't-' });
    expect(a).toStrictEqual(b);
    expect(a).not.toStrictEqual(generateClickstreamWorkload({ seed: 8, count: 500, startMs: 1_700_000_000_000, idPrefix: 't-' }));
    const sessionsPerUser = new Map<string, Set<string>>();
    for (const r of a) {
      const e = r.event!;
      expect(JSON.parse(r.data)).toStrictEqual(e);
      expect(r.partitionKey).toBe(e.sessionId);
      expect(String(e.userId).startsWith('t-user-') && String(e.sessionId).startsWith('t-sess-')).toBe(true);
      expect(typeof e.ts).toBe('number');
      expect(['page_view', 'click', 'add_to_cart', 'purchase']).toContain(String(e.eventType));
      expect(e.eventType === 'purchase').toBe(typeof e.amount === 'number');
      if (!sessionsPerUser.has(String(e.userId))) sessionsPerUser.set(String(e.userId), new Set());
      sessionsPerUser.get(String(e.userId))!.add(String(e.sessionId));
    }
    expect([...sessionsPerUser.values()].some((s) => s.size > 1)).toBe(true);
    expect(new Set(a.map((r) => r.event!.eventType)).size).toBeGreaterThanOrEqual(3);
  });

  test('the IoT workload is unchanged for a given seed', () => {
    // Pinned from the generator as first released: other tests and the e2e suite depend on its exact output.
    const w = generateIotWorkload({ seed: 1, count: 200, startMs: 1_700_000_000_000 });
    const digest = createHash('sha256').update(w.map((r) => `${r.partitionKey}|${r.data}|${r.malformation ?? ''}`).join('\n')).digest('hex');
    expect(digest).toBe('b01959b2b17418ab3d50ad2faf906fb3f480759103ed781e0463ccb7cd662eac');
  });
});
