/** Reads a (possibly dotted) field path from a parsed event. */
export type FieldGetter = (event: Record<string, unknown>) => unknown;

/**
 * Compiles a field path once per spec, so that the hot path does not split strings per record.
 * A top-level name is looked up directly; a dotted path walks nested objects and yields undefined on a gap.
 */
export function compileFieldGetter(path: string): FieldGetter {
  if (!path.includes('.')) return topLevelGetter(path);
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

/**
 * `event[name]` for one name. Why generated code: every closure made by one function literal shares that literal's
 * inline caches, so a plain `(event) => event[name]` saw every name of the spec at one load and went megamorphic (a
 * lookup in V8's global stub cache: about 6 % of the handler's instructions on P1's batch, which reads twelve fields
 * per event). A function of its own per name keeps its load monomorphic on the events' shape. The name goes in as a
 * JSON string literal, which is a valid JavaScript string literal for any name; where the runtime refuses code
 * generation from strings, the closure is used.
 */
function topLevelGetter(name: string): FieldGetter {
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the body is fixed; the name is a quoted literal
    return new Function('event', `return ${fieldReadCode(name, 'event', '')};`) as FieldGetter;
  } catch {
    return (event) => event[name];
  }
}

/**
 * JavaScript that reads field `path` of the object in variable `object`, for generated code (field getters, a
 * layout's fold, a spec's event check): a top-level name as a property access with the name as a JSON string literal
 * (a valid JavaScript string literal for any name), so that each generated read keeps its own inline cache; a dotted
 * path through `getter`, an expression for its compiled getter.
 */
export function fieldReadCode(path: string, object: string, getter: string): string {
  return path.includes('.') ? `${getter}(${object})` : `${object}[${JSON.stringify(path)}]`;
}
