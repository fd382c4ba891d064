/** Errors of the stack-to-function contract. */

/** A function started without a variable the stack must set: it fails at init, naming the variable. */
export class MissingEnvError extends Error {
  constructor(
    /** The function (its service name). */
    readonly fn: string,
    /** The missing variable. */
    readonly variable: string,
  ) {
    super(`${fn}: environment variable ${variable} is required`);
    this.name = 'MissingEnvError';
  }
}
