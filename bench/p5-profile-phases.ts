/**
 * Sorts a V8 `.cpuprofile` of the bundled aggregator (bench/p5-batch-cost.ts run with `--cpu-prof`) into phases by
 * the source file of each sample's frame, mapped back through the bundle's source map (node:module's SourceMap):
 * the handler's own code by folder, the SDK by package, Node's internals. Self time, in ms and % of the samples.
 *
 *   npx tsx bench/p5-profile-phases.ts <file.cpuprofile> <bundle index.js> <intervals.json> [rounds, e.g. 1-3] [top frames]
 *
 * Only the samples inside the handler calls the intervals file lists (bench/p5-batch-cost.ts) count.
 */
import { readFileSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

/** The phase a source path belongs to: our folders, an npm package, or Node's and V8's own. */
function phaseOf(source: string, url: string): string {
  if (!source) return url ? `node:${url.replace(/^node:/, '').split('/')[0]}` : '(v8: gc, idle, program)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (pkg) return pkg[1];
  const ours = /(lambda\/[^/]+)\//.exec(source);
  return ours ? ours[1] : source;
}

function main(): void {
  const [file, bundle, intervalsFile, roundsArg, topArg] = process.argv.slice(2);
  if (!file || !bundle || !intervalsFile) throw new Error('usage: p5-profile-phases.ts <file.cpuprofile> <bundle index.js> <intervals.json> [rounds a-b] [top]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number };
  const [fromRound, toRound] = (roundsArg ?? '0-99').split('-').map(Number);
  const intervals = (JSON.parse(readFileSync(intervalsFile, 'utf8')) as { round: number; fromUs: number; toUs: number }[]).filter(
    (i) => i.round >= fromRound && i.round <= toRound,
  );
  const inCall = (t: number) => intervals.some((i) => t >= i.fromUs && t <= i.toUs);
  let t = profile.startTime;
  const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')) as SourceMapPayload);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const phases = new Map<string, number>();
  const frames = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (!inCall(t)) return;
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const f = byId.get(id)!.callFrame;
    let source = '';
    let name = f.functionName || '(anonymous)';
    if (f.url.endsWith(bundle) || f.url.endsWith('index.js')) {
      const e = map.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number; name?: string };
      source = e.originalSource ?? '';
      name = `${name} ${source.replace(/.*node_modules\//, '').replace(/.*\/(lambda\/)/, '$1')}:${(e.originalLine ?? 0) + 1}`;
    }
    const phase = phaseOf(source, f.url.startsWith('node:') ? f.url : f.url ? 'other' : '');
    if (name.startsWith('(idle)')) return;
    phases.set(phase, (phases.get(phase) ?? 0) + dt);
    frames.set(name, (frames.get(name) ?? 0) + dt);
    total += dt;
  });
  console.log(`total ${total.toFixed(0)} ms (idle excluded) in ${intervals.length} handler calls, ${(total / intervals.length).toFixed(1)} ms a call`);
  for (const [p, ms] of [...phases].sort((a, b) => b[1] - a[1])) console.log(`${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${p}`);
  console.log('top frames:');
  for (const [n, ms] of [...frames].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 30))) console.log(`${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / total).toFixed(1).padStart(5)} %  ${n}`);
}

main();
