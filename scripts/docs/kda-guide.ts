/**
 * Generates the tables of docs/migrating-from-kda-sql.md from the real code: each of the guide's five KDA queries is
 * translated by `pipeline spec from-sql`, validated by the spec schema, run by the real `processBatch` over the shared
 * sample (fixtures/kda-sample.ndjson) with in-memory ports, then fired by the idle closer; the cost table comes from
 * bench/lib/cost-model.ts's prices. A unit test checks that the guide holds what this prints today.
 *
 *   npx tsx scripts/docs/kda-guide.ts            print the generated sections
 *   npx tsx scripts/docs/kda-guide.ts --write    rewrite them in the guide
 *   npx tsx scripts/docs/kda-guide.ts --sample   rewrite the sample file (seeded)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ResultSink, SourceRecord } from '../../lambda/app/ports';
import { closeIdleWindows } from '../../lambda/app/close-idle-windows';
import { processBatch } from '../../lambda/app/process-batch';
import { compileSpec } from '../../lambda/domain/compiled-spec';
import { positionOf } from '../../lambda/domain/sequence';
import { parseAggregationSpec } from '../../lambda/domain/spec';
import type { TopKItem } from '../../lambda/domain/top-k';
import type { WindowResult } from '../../lambda/domain/window-result';
import { CountingRecordSink, LeanKeyWindowStore, LeanWindowStore } from '../../bench/lib/memory-ports';
import { sequenceNumber } from '../../fixtures/kinesis';
import { specJsonFromSql } from '../cli/spec-command';
import { kdaCostRows } from './kda-cost';
import { kdaSample, KDA_SAMPLE_START_MS } from './kda-sample';

const ROOT = join(__dirname, '..', '..');
/** The guide, and the sample its tables are computed from. */
export const GUIDE_FILE = join(ROOT, 'docs', 'migrating-from-kda-sql.md');
export const SAMPLE_FILE = join(ROOT, 'fixtures', 'kda-sample.ndjson');
/** Rows shown per query (the first windows, by start then key); the rest are counted. */
const ROWS_SHOWN = 8;
/** The translation options every guide query uses: the sample's event time, and a key for the table functions. */
const FROM_SQL = { eventTimeField: 'event_time', fieldCase: 'lower', key: 'exchange' } as const;

/** The guide's queries: AWS's examples (adapted to the sample's columns where noted in each file). */
export const GUIDE_QUERIES = [
  { id: 'tumbling-count', title: 'Tumbling window counts (FLOOR on event time)' },
  { id: 'tumbling-min-max', title: 'Aggregations over STEP(ROWTIME BY INTERVAL …)' },
  { id: 'count-distinct', title: 'COUNT_DISTINCT_ITEMS_TUMBLING' },
  { id: 'top-k', title: 'TOP_K_ITEMS_TUMBLING' },
  { id: 'stagger', title: 'WINDOWED BY STAGGER' },
] as const;

/** A results sink that keeps the last version of every window. */
class LatestResults implements ResultSink {
  readonly latest = new Map<string, WindowResult>();
  emit(results: readonly WindowResult[]): Promise<void> {
    for (const r of results) {
      const id = JSON.stringify([r.aggregation, r.key, r.windowStart]);
      if ((this.latest.get(id)?.version ?? -1) <= r.version) this.latest.set(id, r);
    }
    return Promise.resolve();
  }
}

/** The sample as committed. */
export function readSample(): string[] {
  return readFileSync(SAMPLE_FILE, 'utf8').split('\n').filter((l) => l.length > 0);
}

/** Runs a spec over the sample: batches of 100 in one shard, arriving 1 s after their place in the stream, then fired. */
export async function runOnSample(specJson: string, lines: readonly string[]): Promise<{ results: WindowResult[]; lateRecords: number }> {
  const spec = compileSpec(parseAggregationSpec(JSON.parse(specJson)));
  const store = new LeanWindowStore();
  const results = new LatestResults();
  const deps = { spec, store, keyStore: new LeanKeyWindowStore(), results, errors: new CountingRecordSink(), late: new CountingRecordSink() };
  const arrival = (i: number) => KDA_SAMPLE_START_MS + i * 500 + 1_000;
  const records: SourceRecord[] = lines.map((payload, i) => ({
    sequenceNumber: sequenceNumber(i),
    subSequenceNumber: 0,
    position: positionOf(sequenceNumber(i)),
    partitionKey: 'kda-sample',
    payload,
    payloadBase64: Buffer.from(payload).toString('base64'),
    arrivalMs: arrival(i),
  }));
  for (let i = 0; i < records.length; i += 100) {
    await processBatch(deps, { lane: 'shardId-000000000000', records: records.slice(i, i + 100) }, arrival(Math.min(i + 99, records.length - 1)));
  }
  // The stream then goes quiet: the idle closer fires what is left once the lane has been idle long enough.
  await closeIdleWindows(deps, arrival(records.length) + 3_600_000);
  if (deps.errors.entries > 0) throw new Error(`${deps.errors.entries} sample records went to the errors sink`);
  const sorted = [...results.latest.values()].sort((a, b) => a.windowStart.localeCompare(b.windowStart) || JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));
  return { results: sorted, lateRecords: deps.late.entries };
}

const cell = (v: unknown) => String(v).replace(/\|/g, '\\|');
const formatNumber = (v: number | null) => (v === null ? '–' : String(Math.round(v * 100) / 100));
const formatTopK = (items: readonly TopKItem[]) =>
  items.map((x) => `${String(x.value)} ${x.count}${x.error > 0 ? ` (+≤${x.error})` : ''}`).join(', ') || '–';

/** A markdown table of the first results. */
function resultsTable({ results, lateRecords }: { results: readonly WindowResult[]; lateRecords: number }): string {
  const first = results[0];
  const keys = Object.keys(first.key);
  const measures = Object.keys(first.measures);
  const topK = Object.keys(first.topK ?? {});
  const head = ['window', ...keys, ...measures, ...topK];
  const rows = results.slice(0, ROWS_SHOWN).map((r) => [
    `${r.windowStart.slice(11, 19)}–${r.windowEnd.slice(11, 19)}`,
    ...keys.map((k) => r.key[k]),
    ...measures.map((m) => formatNumber(r.measures[m])),
    ...topK.map((m) => formatTopK(r.topK![m])),
  ]);
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
  const more = results.length - ROWS_SHOWN;
  const late = lateRecords > 0 ? ` ${lateRecords} late-data sink entries: records that arrived after their window had fired (allowed lateness 0; raise \`allowedLatenessSeconds\` to count them).` : '';
  return `${lines.join('\n')}\n\n${results.length} windows in all${more > 0 ? `; the first ${ROWS_SHOWN} shown` : ''} (final versions, times UTC on 2026-01-27).${late}`;
}

/** One query's generated section: its SQL, the command, the spec, and the results on the sample. */
async function querySection(id: string, lines: readonly string[]): Promise<string> {
  const file = `fixtures/kda/${id}.sql`;
  const sql = readFileSync(join(ROOT, file), 'utf8').trim();
  const command = `pipeline spec from-sql ${file} --event-time-field ${FROM_SQL.eventTimeField}${sql.includes('_ITEMS_TUMBLING') ? ` --key ${FROM_SQL.key}` : ''}`;
  const parts = [`\`\`\`sql\n${sql}\n\`\`\``, `\`${command}\` prints:`];
  const specJson = specJsonFromSql(sql, file, FROM_SQL, () => undefined);
  parts.push(`\`\`\`json\n${specJson.trim()}\n\`\`\``, 'Results on the sample:', resultsTable(await runOnSample(specJson, lines)));
  return parts.join('\n\n');
}

/** Every generated section of the guide, by marker name. */
export async function guideSections(): Promise<Map<string, string>> {
  const lines = readSample();
  const out = new Map<string, string>();
  for (const q of GUIDE_QUERIES) out.set(`query-${q.id}`, await querySection(q.id, lines));
  out.set('cost', kdaCostRows());
  return out;
}

const begin = (name: string) => `<!-- kda-guide:begin ${name} -->`;
const end = (name: string) => `<!-- kda-guide:end ${name} -->`;

/** The guide's current text of a section (between its markers), or undefined when the markers are missing. */
export function sectionInGuide(guide: string, name: string): string | undefined {
  const from = guide.indexOf(begin(name));
  const to = guide.indexOf(end(name));
  if (from < 0 || to < from) return undefined;
  return guide.slice(from + begin(name).length, to).trim();
}

/** The guide with every section replaced by `sections`. */
export function withSections(guide: string, sections: ReadonlyMap<string, string>): string {
  let out = guide;
  for (const [name, text] of sections) {
    const from = out.indexOf(begin(name));
    const to = out.indexOf(end(name));
    if (from < 0 || to < from) throw new Error(`the guide has no ${begin(name)} … ${end(name)} markers`);
    out = `${out.slice(0, from + begin(name).length)}\n${text}\n${out.slice(to)}`;
  }
  return out;
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--sample')) {
    writeFileSync(SAMPLE_FILE, `${kdaSample().map((e) => JSON.stringify(e)).join('\n')}\n`);
    console.log(`wrote ${SAMPLE_FILE}`);
    return;
  }
  const sections = await guideSections();
  if (argv.includes('--write')) {
    writeFileSync(GUIDE_FILE, withSections(readFileSync(GUIDE_FILE, 'utf8'), sections));
    console.log(`wrote ${sections.size} sections of ${GUIDE_FILE}`);
    return;
  }
  for (const [name, text] of sections) console.log(`${begin(name)}\n${text}\n${end(name)}\n`);
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
