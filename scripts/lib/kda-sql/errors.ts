/** A KDA SQL construct outside the supported subset, or SQL that does not parse: the message names it and suggests the nearest supported form. */
export class KdaSqlError extends Error {
  override readonly name = 'KdaSqlError';
}
