import { LAZY_ADAPTERS_FILE } from '../contract/bundle-layout';

/** The module `lazy-adapters.ts`. */
export type LazyAdapters = typeof import('./lazy-adapters');

function notFound(e: unknown): boolean {
  const code = (e as { code?: string } | undefined)?.code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
}

/**
 * Loads the aggregator's lazily used adapters: deployed, from {@link LAZY_ADAPTERS_FILE} beside the bundle; run from
 * source (a test, `tsx`), from the module itself. Both specifiers are held in variables so that esbuild leaves them to
 * the runtime: a literal one would be bundled into the handler's file, which is what this file exists to avoid.
 */
export async function loadLazyAdapters(): Promise<LazyAdapters> {
  const built = `./${LAZY_ADAPTERS_FILE}`;
  const source = './lazy-adapters';
  try {
    return (await import(built)) as LazyAdapters;
  } catch (e) {
    if (!notFound(e)) throw e;
    try {
      return (await import(source)) as LazyAdapters;
    } catch {
      // Neither beside a bundle nor in the source tree: the bundle's own error says which file is missing.
      throw e;
    }
  }
}
