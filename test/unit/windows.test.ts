
import { compileWindowAssigner } from '../../lambda/domain/windows';

const MIN = 60_000;

describe('window assignment', () => {
  const cases: { name: string; def: Parameters<typeof compileWindowAssigner>[0]; ts: number; starts: number[] }[] = [
    { name: 'tumbling, first instant of a window', def: { type: 'tumbling', sizeSeconds: 60 }, ts: 2 * MIN, starts: [2 * MIN] },
    { name: 'tumbling, last instant belongs to the window (half-open)', def: { type: 'tumbling', sizeSeconds: 60 }, ts: 3 * MIN - 1, starts: [2 * MIN] },
    { name: 'tumbling, the epoch', def: { type: 'tumbling', sizeSeconds: 60 }, ts: 0, starts: [0] },
    { name: 'hopping 5m/1m, on a hop boundary', def: { type: 'hopping', sizeSeconds: 300, hopSeconds: 60 }, ts: 10 * MIN, starts: [6, 7, 8, 9, 10].map((m) => m * MIN) },
    { name: 'hopping 5m/1m, inside a hop', def: { type: 'hopping', sizeSeconds: 300, hopSeconds: 60 }, ts: 10 * MIN + 59_999, starts: [6, 7, 8, 9, 10].map((m) => m * MIN) },
    { name: 'hopping where hop equals size behaves as tumbling', def: { type: 'hopping', sizeSeconds: 60, hopSeconds: 60 }, ts: 61_000, starts: [MIN] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const windows = compileWindowAssigner(c.def).assign(c.ts);
      expect(windows.map((w) => w.start)).toStrictEqual(c.starts);
      for (const w of windows) {
        expect(w.end - w.start).toBe((c.def as { sizeSeconds: number }).sizeSeconds * 1000);
        expect(w.start <= c.ts && c.ts < w.end).toBe(true);
      }
    });
  }
});
