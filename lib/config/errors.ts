/** Errors of the configuration layer (synth time). */

/** Raised for any invalid configuration value; the message names the field and what it accepts. */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** The config keys at fault. */
    readonly fields: readonly string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

function show(v: unknown): string {
  // Context values are strings; quote them only when they would otherwise be unreadable.
  return typeof v === 'string' && /^\S+$/.test(v) ? v : JSON.stringify(v) ?? String(v);
}

/** The message of one invalid field: its name, what it accepts, and the value it got. */
export function fieldError(field: string, message: string, got: unknown): string {
  return `Invalid config "${field}": ${message} (got ${show(got)})`;
}
