/**
 * Typed access to a thrown error, for tests that check more than its message (fields, issues, failed records).
 * Jest's `toThrow` checks a class or a message but gives the error back to nobody.
 */

type ErrorClass<E extends Error> = abstract new (...args: never[]) => E;

/**
 * Runs `fn`, expects it to throw an instance of `cls`, and returns that error, typed.
 * @throws the jest assertion error when `fn` returns normally or throws something else.
 */
export function thrownBy<E extends Error>(fn: () => unknown, cls: ErrorClass<E>): E {
  let caught: unknown;
  let threw = false;
  try {
    fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  expect(threw).toBe(true);
  expect(caught).toBeInstanceOf(cls);
  return caught as E;
}

/**
 * Awaits `promise`, expects it to reject with an instance of `cls`, and returns that error, typed.
 * @throws the jest assertion error when `promise` resolves or rejects with something else.
 */
export async function rejectionOf<E extends Error>(promise: Promise<unknown>, cls: ErrorClass<E>): Promise<E> {
  await expect(promise).rejects.toBeInstanceOf(cls);
  return (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as E;
}
