/**
 * A spec's quick check of an event's fields: straight-line code generated once per compiled spec that accepts an
 * event only when `fieldProblem` (event-parser.ts, the definition of valid fields) finds no problem in it, and leaves
 * every other event (a missing or ill-typed field, a group-by string long enough to need its JSON measured) to
 * `fieldProblem`, which finds the reason.
 */
import { DYNAMODB_MIN_NUMBER_MAGNITUDE, MAX_NUMBER_MAGNITUDE, SHORT_STRING_UNITS } from './event-parser';
import { fieldReadCode, type FieldGetter } from './fields';
import { topKValueProblem } from './top-k';

/** True only when `fieldProblem` would find no problem; false leaves the event to it. */
export type EventCheck = (event: Record<string, unknown>) => boolean;

/** A spec's fields by what they must hold, as `fieldProblem` checks them. */
export interface CheckedFields {
  readonly keyFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  readonly scalarFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  readonly topKFields: readonly { readonly field: string; readonly get: FieldGetter }[];
  readonly numericFields: readonly { readonly field: string; readonly get: FieldGetter }[];
}

/** Leaves every event to `fieldProblem`: what runs where the runtime refuses code generation. */
const leaveAll: EventCheck = () => false;

/**
 * Generates the check. Each condition below accepts a subset of what `fieldProblem` accepts for its field: a group-by
 * string only when it is well formed and short (a longer one may need its key JSON measured), a group-by number when
 * it is 0 or of a magnitude DynamoDB stores (NaN and infinities fail every comparison), a distinct-count value when
 * it is a string, a boolean or a finite number, a topK value when `topKValueProblem` finds nothing, a numeric value
 * when it is a number within ±{@link MAX_NUMBER_MAGNITUDE} (so finite). Why: `fieldProblem`'s loops call a different
 * getter per field from one call site (a polymorphic call V8 does not inline) for every event; the generated code
 * reads each field with its own load and inlines the tests.
 */
export function compileEventCheck(fields: CheckedFields): EventCheck {
  const getters: FieldGetter[] = [];
  const read = (f: { field: string; get: FieldGetter }) => {
    getters.push(f.get);
    return `v = ${fieldReadCode(f.field, 'o', `g[${getters.length - 1}]`)};`;
  };
  const lines: string[] = [];
  for (const f of fields.keyFields) {
    lines.push(
      read(f),
      `if (typeof v === 'string') { if (v.length > ${SHORT_STRING_UNITS} || !v.isWellFormed()) return false; }`,
      `else if (typeof v === 'number') { a = v < 0 ? -v : v; if (!(a === 0 || (a >= ${DYNAMODB_MIN_NUMBER_MAGNITUDE} && a <= ${Number.MAX_SAFE_INTEGER}))) return false; }`,
      `else if (typeof v !== 'boolean') return false;`,
    );
  }
  for (const f of fields.scalarFields) {
    lines.push(read(f), `if (typeof v === 'number' ? !Number.isFinite(v) : typeof v !== 'string' && typeof v !== 'boolean') return false;`);
  }
  for (const f of fields.topKFields) {
    lines.push(read(f), `if (v === undefined || v === null || p(v) !== undefined) return false;`);
  }
  for (const f of fields.numericFields) {
    lines.push(read(f), `if (typeof v !== 'number' || !(v <= ${MAX_NUMBER_MAGNITUDE} && v >= ${-MAX_NUMBER_MAGNITUDE})) return false;`);
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the code is built from fixed tests and quoted field names
    const make = new Function('g', 'p', `return function check(o) {\nvar v, a;\n${lines.join('\n')}\nreturn true;\n};`) as (
      g: readonly FieldGetter[],
      p: typeof topKValueProblem,
    ) => EventCheck;
    return make(getters, topKValueProblem);
  } catch {
    return leaveAll;
  }
}
