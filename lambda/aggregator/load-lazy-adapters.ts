import { LAZY_ADAPTERS_FILE, LAZY_ADAPTERS_MODULE } from '../contract/bundle-layout';

/** The module `lazy-adapters.ts`. */
export type LazyAdapters = typeof import('./lazy-adapters');

function notFound(e: unknown): boolean {
  return (e as { code?: string } | undefined)?.code === 'MODULE_NOT_FOUND';
}

/**
 * Loads the aggregator's lazily used adapters: deployed, from {@link LAZY_ADAPTERS_FILE} beside the bundle; run from
 * source (`tsx`), from the module itself. Both specifiers are held in variables so that esbuild leaves them to the
 * runtime: a literal one would be bundled into the handler's file, which is what that file exists to avoid. `require`,
 * not `import()`: the file is CommonJS, and `import()` of it went through the ES module loader, which lexes all of it
 * for its exports (138 ms on first use against 58 ms).
 */
export function loadLazyAdapters(): Promise<LazyAdapters> {
  return new Promise((resolve) => resolve(requireLazyAdapters()));
}

function requireLazyAdapters(): LazyAdapters {
  const built = `./${LAZY_ADAPTERS_FILE}`;
  const source = `./${LAZY_ADAPTERS_MODULE}`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a file of the asset, found at run time
    return require(built) as LazyAdapters;
  } catch (e) {
    if (!notFound(e)) throw e;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- the source module, when run unbundled
      return require(source) as LazyAdapters;
    } catch {
      // Neither beside a bundle nor in the source tree: the bundle's own error says which file is missing.
      throw e;
    }
  }
}
