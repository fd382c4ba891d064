/**
 * Prints the top self-time frames of a V8 `.cpuprofile` (from `node --cpu-prof`), by function and source location.
 *
 *   npx tsx bench/profile-top.ts /tmp/p1-prof/CPU….cpuprofile [count]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { ROOT } from './lib/workload';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function main(): void {
  const [file, countArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [count]');
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    const f = byId.get(id)!.callFrame;
    const url = f.url.startsWith('file://') ? relative(ROOT, new URL(f.url).pathname) : f.url;
    // tsx's transpiled TypeScript has no useful line numbers (no source maps in the profile): name the file only.
    const line = url && !url.endsWith('.ts') ? `:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}\t${url}${line}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(countArg ?? 15));
  console.log('| # | function | file | self % |\n|---|---|---|---|');
  top.forEach(([key, us], i) => {
    const [fn, loc] = key.split('\t');
    console.log(`| ${i + 1} | \`${fn}\` | ${loc ? `\`${loc}\`` : ''} | ${((100 * us) / total).toFixed(1)} |`);
  });
  console.log(`\ntotal ${(total / 1000).toFixed(0)} ms sampled`);
}

main();
