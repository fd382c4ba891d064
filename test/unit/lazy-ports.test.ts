import { lazily, lazyRecordSink, lazyStreamReader } from '../../lambda/adapters/lazy-ports';
import type { RecordSink, SourceRecord, StreamReader } from '../../lambda/app/ports';

describe('lazy ports', () => {
  test('a lazy sink builds its sink on the first write only, then reuses it', async () => {
    const written: [string, readonly object[]][] = [];
    let builds = 0;
    const sink = lazyRecordSink(() => {
      builds++;
      const real: RecordSink = {
        write: (name, entries) => {
          written.push([name, entries]);
          return Promise.resolve();
        },
      };
      return Promise.resolve(real);
    });
    expect(builds).toBe(0);
    await sink.write('a', [{ x: 1 }]);
    await Promise.all([sink.write('b', [{ x: 2 }]), sink.write('c', [])]);
    expect(builds).toBe(1);
    expect(written).toStrictEqual([
      ['a', [{ x: 1 }]],
      ['b', [{ x: 2 }]],
      ['c', []],
    ]);
  });

  test('a failed build is retried on the next use, and its error reaches the caller', async () => {
    let attempts = 0;
    const get = lazily(() => {
      attempts++;
      return attempts === 1 ? Promise.reject(new Error('load failed')) : Promise.resolve(attempts);
    });
    await expect(get()).rejects.toThrow('load failed');
    await expect(get()).resolves.toBe(2);
    await expect(get()).resolves.toBe(2);
    expect(attempts).toBe(2);
  });

  test('a lazy reader passes its arguments and returns what the real reader returns', async () => {
    const calls: string[][] = [];
    const record = { sequenceNumber: '1' } as SourceRecord;
    const real: StreamReader = {
      readRange: (...args: string[]) => {
        calls.push(args);
        return Promise.resolve({ records: [record], trimmed: true });
      },
    };
    const reader = lazyStreamReader(() => Promise.resolve(real));
    await expect(reader.readRange('arn', 'shard', '10', '20')).resolves.toStrictEqual({ records: [record], trimmed: true });
    expect(calls).toStrictEqual([['arn', 'shard', '10', '20']]);
  });
});
