/**
 * The file beside the aggregator's bundle (`index.js`) that holds its lazily loaded adapters, built from
 * `lambda/aggregator/lazy-adapters.ts` by the stack's bundling (`lazyAdaptersHooks` in lib/constructs/lambda-bundling.ts)
 * and loaded by the handler on first use. Why a file of its own: what the bundle holds, the cold start compiles,
 * whether it runs or not (P4).
 */
export const LAZY_ADAPTERS_FILE = 'lazy-adapters.js';

/** The source module, beside the aggregator's handler, that {@link LAZY_ADAPTERS_FILE} is built from (no extension). */
export const LAZY_ADAPTERS_MODULE = 'lazy-adapters';
