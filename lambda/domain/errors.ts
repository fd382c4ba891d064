/** Errors of the domain layer. */

/** Thrown when a spec does not validate; the message names every failing field by its path. */
export class SpecValidationError extends Error {
  constructor(
    message: string,
    /** Each failing field as `path: message`. */
    readonly issues: readonly string[],
  ) {
    super(message);
    this.name = 'SpecValidationError';
  }
}
