/**
 * Typed, validated pipeline configuration: AWS limits (limits.ts), defaults (defaults.ts), the zod schema and the
 * types derived from it (schema.ts), the cross-field rules (rules.ts), the loader (load.ts) and its error (errors.ts).
 */
export * from './limits';
export * from './defaults';
export * from './schema';
export * from './rules';
export * from './errors';
export * from './load';
