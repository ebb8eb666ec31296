// IDX files built in memory, and the assertion every IDX error test makes, for the IDX, data-set
// and fuzz tests.
import { expect } from 'vitest';
import { IdxError } from '../src/data/idx.ts';

/** An unsigned-byte IDX file: magic 0x0000_08_<ndim>, big-endian u32 dims, then `data`. */
export const idxBytes = (dims: readonly number[], data: ArrayLike<number> = []): Buffer => {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Array.from(data))]);
};

/** `f` throws an IdxError (by class, and by name, which is how the CLI tells it apart) with `message`. */
export const expectIdxError = (f: () => unknown, message: string | RegExp): void => {
  expect(f).toThrow(IdxError);
  expect(f).toThrow(
    expect.objectContaining({
      name: 'IdxError',
      message: typeof message === 'string' ? message : expect.stringMatching(message),
    }),
  );
};
