/** Errors of the application layer (the use cases and their ports). */

/** Thrown when a window could not be written before the invocation's deadline: the batch fails and is retried. */
export class DeadlineExceededError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * Thrown by `WindowStore.writeWindow` (ports.ts) when the window's next version would not fit its item budget: nothing was
 * written, and the records that would have grown it go to the errors sink rather than fail the batch for ever.
 */
export class ItemBudgetExceededError extends Error {
  constructor(
    /** The estimated size of the item that was not written, in bytes. */
    readonly bytes: number,
    /** The budget, in bytes. */
    readonly budget: number,
  ) {
    super(`window item would be ${bytes} bytes, over its ${budget}-byte budget (DynamoDB items are at most 400 KB)`);
    this.name = 'ItemBudgetExceededError';
  }
}
