/** Reads a (possibly dotted) field path from a parsed event. */
export type FieldGetter = (event: Record<string, unknown>) => unknown;

/**
 * Compiles a field path once per spec, so that the hot path does not split strings per record.
 * A top-level name is looked up directly; a dotted path walks nested objects and yields undefined on a gap.
 */
export function compileFieldGetter(path: string): FieldGetter {
  if (!path.includes('.')) return (event) => event[path];
  const parts = path.split('.');
  return (event) => {
    let cur: unknown = event;
    for (const p of parts) {
      if (cur === null || typeof cur !== 'object') return undefined;
      cur = (cur as Record<string, unknown>)[p];
    }
    return cur;
  };
}
