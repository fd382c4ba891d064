import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { WriteOutcome } from '../app/ports';

/**
 * Whether a DynamoDB call failed on its condition. The name is checked as well as the class: a bundle may hold two
 * copies of the SDK's exception classes, and a client built elsewhere throws the other copy's.
 */
export function isConditionFailure(e: unknown): boolean {
  return e instanceof ConditionalCheckFailedException || (e as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** Sends a conditional write: a failed condition is a `conflict` for the caller to resolve, any other error is thrown. */
export async function conditionalWrite(send: () => Promise<unknown>): Promise<WriteOutcome> {
  try {
    await send();
    return 'written';
  } catch (e) {
    if (isConditionFailure(e)) return 'conflict';
    throw e;
  }
}
