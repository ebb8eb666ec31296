// Helpers at the boundary between Either-returning library calls and code that wants a value.
import * as E from 'fp-ts/lib/Either.js';

/** The Right value, or the Left error thrown: for scripts and tests that treat failure as fatal. */
export const unwrap = <A>(e: E.Either<Error, A>): A => {
  if (E.isLeft(e)) throw e.left;
  return e.right;
};
