/**
 * An inclusive phase breakdown of the handler on P1's batch, by CPU time over many rounds. Each phase is timed on its
 * own, cumulatively where a phase cannot run without the one before it (validation needs the parse), and the
 * difference is reported. Not part of `npm run bench`; docs/performance.md ("P1, fifth round") shows a run.
 *
 *   node --max-semi-space-size=64 --expose-gc --import tsx bench/phases-p1.ts [rounds=200] [variant, e.g. 'no sketches']
 */
import { splitByShard } from '../lambda/adapters/kinesis-records';
import { prepare } from '../lambda/app/prepare-batch';
import { parseEvent } from '../lambda/domain/event-parser';
import { PreAggregator } from '../lambda/domain/pre-aggregate';
import { resultId, toWindowResult } from '../lambda/domain/window-result';
import type { StoredWindow } from '../lambda/domain/window-lifecycle';
import type { WindowRef } from '../lambda/domain/window-ref';
import { LeanWindowStore } from './lib/memory-ports';
import { cpuNow, cpuSince } from './lib/stats';
import { BENCH_SHARD, BENCH_START_MS, benchEvent, benchSpec, benchWorkload } from './lib/workload';
import { handleOnce, p1Variants } from './p1-handler-cpu';

/** JSON.parse as the reference does it: malformed records are part of the workload. */
function tryParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 200);
  const warmup = 20;
  const n = 10_000;
  const variant = process.argv[3];
  const spec = variant ? p1Variants(benchSpec().spec)[variant] : benchSpec().spec;
  if (!spec) throw new Error(`no variant ${variant}`);
  const event = benchEvent(benchWorkload(n));
  const nowMs = BENCH_START_MS + n * 100;
  const sums: Record<string, number> = {};
  const add = (k: string, ms: number) => (sums[k] = (sums[k] ?? 0) + ms);
  let windows = 0;
  let fired = 0;
  for (let i = 0; i < warmup + rounds; i++) {
    const on = i >= warmup;
    const time = <T>(k: string, fn: () => T): T => {
      const t = cpuNow();
      const out = fn();
      if (on) add(k, cpuSince(t));
      return out;
    };
    const records = time('split', () => splitByShard(event.Records)).get(BENCH_SHARD)!.records;
    const payloads = time('decode', () => records.map((r) => r.payload));
    time('decode + JSON.parse', () => records.map((r) => tryParse(r.payload)));
    const parsed = time('decode + parseEvent', () => records.map((r) => parseEvent(spec, r.payload, r.arrivalMs)));
    const agg = new PreAggregator(spec);
    time('fold (add)', () => {
      for (let j = 0; j < parsed.length; j++) {
        const p = parsed[j];
        if (p.ok) agg.add(j, p.event, p.ts, records[j].position, true);
      }
    });
    const slices = time('finish', () => agg.finish());
    time('prepare (all of the above but split)', () => prepare(spec, BENCH_SHARD, records));
    const { store } = await (async () => {
      const t = cpuNow();
      const out = await handleOnce(spec, event, nowMs);
      if (on) add('handler', cpuSince(t));
      return out;
    })();
    // What the handler emitted: every fired window, as the store holds it.
    const emitted: { ref: WindowRef; stored: StoredWindow }[] = [...store.windows.values()].filter((w) => w.stored.version > 0);
    windows = slices.size;
    fired = emitted.length;
    time('results (toWindowResult)', () => emitted.map(({ ref, stored }) => toWindowResult(ref, stored)));
    time('result ids alone', () => emitted.map(({ ref, stored }) => resultId(ref.aggregation.name, ref.keyJson, ref.start, stored.version)));
    time('store (writeWindow + markEmitted)', () => {
      const s = new LeanWindowStore();
      for (const { ref, stored } of emitted) {
        void s.writeWindow(ref, stored, undefined, nowMs);
        void s.markEmitted(ref, stored.version);
      }
    });
    void payloads;
  }
  const ms = (k: string) => sums[k] / rounds;
  const rows: [string, number][] = [
    ['split (SourceRecords, positions)', ms('split')],
    ['base64 decode', ms('decode')],
    ['JSON.parse', ms('decode + JSON.parse') - ms('decode')],
    ['validation (parseEvent beyond JSON.parse)', ms('decode + parseEvent') - ms('decode + JSON.parse')],
    ['fold (add: keys, panes, measures, sketches)', ms('fold (add)')],
    ['finish (hopping windows from panes)', ms('finish')],
    ['prepare as a whole', ms('prepare (all of the above but split)')],
    ['after prepare: settlement, results, ids, emission, store', ms('handler') - ms('split') - ms('prepare (all of the above but split)')],
    ['  of which results (toWindowResult, ids included)', ms('results (toWindowResult)')],
    ['  of which result ids (SHA-256)', ms('result ids alone')],
    ['  of which the in-memory store (writes, marks)', ms('store (writeWindow + markEmitted)')],
    ['handler', ms('handler')],
  ];
  console.log(`${variant ?? 'demo spec'}: ${rounds} rounds, ${windows} windows, ${fired} fired, ms CPU per batch of ${n}:`);
  for (const [k, v] of rows) console.log(`${k.padEnd(58)} ${v.toFixed(2).padStart(7)}  ${((100 * v) / ms('handler')).toFixed(1).padStart(5)} %`);
}

void main();
