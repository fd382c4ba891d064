/**
 * Runs `fn` as on a runtime that refuses code generation from strings (a CSP, `--disallow-code-generation-from-strings`):
 * `Function` throws the EvalError V8 throws there. The generated hot paths must then fall back to their loops.
 */
export function withoutCodeGeneration<T>(fn: () => T): T {
  const original = globalThis.Function;
  globalThis.Function = function () {
    throw new EvalError('Code generation from strings disallowed for this context');
  } as unknown as FunctionConstructor;
  try {
    return fn();
  } finally {
    globalThis.Function = original;
  }
}
