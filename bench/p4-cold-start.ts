/**
 * P4: cold start. The handler is bundled twice with esbuild, with the options `WindowAggregator` gives
 * NodejsFunction (`PIPELINE_BUNDLING`: minify, external source map, target node22, CommonJS, ES module builds
 * first): once with the AWS SDK
 * bundled, as deployed, and once with `@aws-sdk/*` left external, as the runtime's SDK would be used. For each, the
 * bundle's size and the time `require()` takes in a fresh `node` process (median of several), with the environment
 * the stack sets. The file of lazily loaded adapters the stack builds beside the bundle is built alike and its size
 * reported; the import does not load it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { esbuildOptionsOf, PIPELINE_BUNDLING } from '../lib/constructs/lambda-bundling';
import { LAZY_ADAPTERS_FILE, LAZY_ADAPTERS_MODULE } from '../lambda/contract/bundle-layout';
import type { BenchLog, FigureResult } from './lib/figure';
import { median, round } from './lib/stats';
import { benchSpec, ROOT } from './lib/workload';
import { ENV } from '../lambda/contract/env';
import { LOCAL_REGION } from '../scripts/local/probe';
import { SINK_PREFIXES } from '../lambda/contract/s3-prefixes';

/** Options of {@link runP4}. */
export interface P4Options {
  /** Fresh processes per variant. @default 9 */
  readonly imports?: number;
  /** Where the bundles go. @default bench/.out (git-ignored with the results) */
  readonly outDir?: string;
}

const ENTRY = join(ROOT, 'lambda', 'aggregator', 'handler.ts');
/** The aggregator's lazily loaded adapters, built beside the bundle as the stack builds them (`lazyAdaptersHooks`). */
const LAZY_ENTRY = join(ROOT, 'lambda', 'aggregator', `${LAZY_ADAPTERS_MODULE}.ts`);
/** Target size of the deployed bundle. */
export const MAX_BUNDLE_BYTES = 800 * 1024;
/** Target time to import the deployed bundle (issue #17). */
export const MAX_IMPORT_MS = 100;

interface Variant {
  readonly name: 'bundled-sdk' | 'external-sdk';
  readonly bytes: number;
  readonly sourceMapBytes: number;
  /** The file of the lazily loaded adapters beside the bundle, loaded on first use, not at import. */
  readonly lazyFileBytes: number;
  readonly importMs: number[];
  /** CPU time (user + system, every thread) of the same imports: steadier than the wall clock on a shared machine. */
  readonly importCpuMs: number[];
  /** The largest inputs by bytes in the output, to see what a bundle is made of. */
  readonly largestInputs: { path: string; bytes: number }[];
  readonly largestPackages: { name: string; bytes: number }[];
}

function packageOf(path: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return m ? m[1] : '(project)';
}

async function bundle(entry: string, outFile: string, external: string[]): Promise<Metafile> {
  const res = await build({
    // NodejsFunction's esbuild options for PIPELINE_BUNDLING (aws-lambda-nodejs/lib/bundling.ts), as the stack's
    // second file of the aggregator is built too.
    ...esbuildOptionsOf(PIPELINE_BUNDLING),
    entryPoints: [entry],
    outfile: outFile,
    external,
    metafile: true,
    logLevel: 'silent',
    absWorkingDir: ROOT,
  });
  return res.metafile;
}

/**
 * Times `require(file)` in a fresh process, by the wall clock and by the process's CPU time: the clocks start inside
 * the process, so node's own start is excluded.
 */
function importOnce(file: string, env: NodeJS.ProcessEnv): { wallMs: number; cpuMs: number } {
  const script =
    `const c=process.cpuUsage(),t=process.hrtime.bigint();require(${JSON.stringify(file)});` +
    `const w=Number(process.hrtime.bigint()-t)/1e6,u=process.cpuUsage(c);process.stdout.write(JSON.stringify([w,(u.user+u.system)/1e3]))`;
  const [wallMs, cpuMs] = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8', cwd: join(file, '..') })) as [number, number];
  return { wallMs, cpuMs };
}

/** Measures P4. */
export async function runP4(opts: P4Options = {}, log: BenchLog = () => undefined): Promise<FigureResult> {
  const n = opts.imports ?? 9;
  const outDir = opts.outDir ?? join(ROOT, 'bench', '.out');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const { json } = benchSpec();
  // What the stack sets (lib/constructs/window-aggregator.ts); the SDK clients are built, not called, at import.
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    [ENV.aggregationSpec]: json,
    [ENV.windowTableName]: 'bench-windows',
    [ENV.resultsDeliveryStream]: 'bench-results',
    [ENV.sinkBucketName]: 'bench-bucket',
    [ENV.errorsPrefix]: SINK_PREFIXES.errors,
    [ENV.latePrefix]: SINK_PREFIXES.late,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  const variants: Variant[] = [];
  for (const [name, external] of [
    ['bundled-sdk', []],
    ['external-sdk', ['@aws-sdk/*']],
  ] as const) {
    const file = join(outDir, name, 'index.js');
    mkdirSync(join(outDir, name), { recursive: true });
    const meta = await bundle(ENTRY, file, [...external]);
    // Not imported at cold start: the handler loads it on its first bad record or skipped range. Its size is reported.
    await bundle(LAZY_ENTRY, join(outDir, name, LAZY_ADAPTERS_FILE), [...external]);
    writeFileSync(join(outDir, name, 'meta.json'), JSON.stringify(meta));
    const output = Object.values(meta.outputs).find((o) => o.entryPoint !== undefined)!;
    const inputs = Object.entries(output.inputs).map(([path, i]) => ({ path, bytes: i.bytesInOutput }));
    const byPackage = new Map<string, number>();
    for (const i of inputs) byPackage.set(packageOf(i.path), (byPackage.get(packageOf(i.path)) ?? 0) + i.bytes);
    // The external variant resolves the SDK from the project's node_modules, as the runtime resolves its own.
    const varEnv = name === 'external-sdk' ? { ...env, NODE_PATH: join(ROOT, 'node_modules') } : env;
    importOnce(file, varEnv); // warms the file cache, so that the first timed run does not read from disk
    const importMs: number[] = [];
    const importCpuMs: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = importOnce(file, varEnv);
      importMs.push(t.wallMs);
      importCpuMs.push(t.cpuMs);
    }
    variants.push({
      name,
      // The JS file is what Lambda loads; the source map is read only when an error stack is rendered.
      bytes: statSync(file).size,
      sourceMapBytes: statSync(`${file}.map`).size,
      lazyFileBytes: statSync(join(outDir, name, LAZY_ADAPTERS_FILE)).size,
      importMs,
      importCpuMs,
      largestInputs: inputs.sort((a, b) => b.bytes - a.bytes).slice(0, 10),
      largestPackages: [...byPackage].map(([pkg, bytes]) => ({ name: pkg, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, 10),
    });
    log(`P4: ${name} ${Math.round(statSync(file).size / 1024)} KiB, import ${median(importMs).toFixed(1)} ms (CPU ${median(importCpuMs).toFixed(1)} ms)`);
  }
  const [bundled, external] = variants;
  const bundledMs = median(bundled.importMs);
  const externalMs = median(external.importMs);
  return {
    id: 'P4',
    figure: `bundle ${Math.round(bundled.bytes / 1024)} KiB (+ ${Math.round(bundled.lazyFileBytes / 1024)} KiB loaded on first use), import ${bundledMs.toFixed(0)} ms (CPU ${median(bundled.importCpuMs).toFixed(0)} ms)`,
    reference: `external SDK: ${Math.round(external.bytes / 1024)} KiB, import ${externalMs.toFixed(0)} ms`,
    ratio: bundledMs / externalMs,
    target: `≤ 800 KB; ≤ ${MAX_IMPORT_MS} ms`,
    met: bundled.bytes <= MAX_BUNDLE_BYTES && bundledMs <= MAX_IMPORT_MS,
    raw: {
      imports: n,
      node: process.version,
      variants: variants.map((v) => ({
        ...v,
        importMedianMs: round(median(v.importMs)),
        importCpuMedianMs: round(median(v.importCpuMs)),
        importMs: v.importMs.map((x) => round(x)),
        importCpuMs: v.importCpuMs.map((x) => round(x)),
      })),
      sizeRatio: round(bundled.bytes / external.bytes),
      importRatio: round(bundledMs / externalMs),
    },
  };
}
