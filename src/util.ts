// Helpers at the boundary between Either-returning library calls and code that wants a value.
import * as E from 'fp-ts/lib/Either.js';

/** The Right value, or the Left error thrown: for scripts and tests that treat failure as fatal. */
export const unwrap = <A>(e: E.Either<Error, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};

/** An environment variable where the runtime has one (Node), else undefined (a browser page). */
export const envVar = (name: string): string | undefined =>
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
