// What every checkpoint format shares: the in-memory checkpoint, its errors, and the tensor checks and
// byte conversions both the safetensors writer/reader and the older DRAWCKPT reader use.
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import * as E from 'fp-ts/lib/Either.js';

export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** `meta` is any JSON value: config, step, RNG state, optimiser hyper-parameters... */
export interface Checkpoint {
  readonly meta: unknown;
  readonly tensors: Readonly<Record<string, Tensor>>;
}

export type CheckpointErrorKind =
  | 'missing'
  | 'unreadable'
  | 'bad-magic'
  | 'unsupported-version'
  | 'truncated'
  | 'bad-header'
  | 'corrupt'
  | 'non-finite';

export interface CheckpointError {
  readonly kind: CheckpointErrorKind;
  readonly path: string;
  readonly message: string;
}

/** What `encodeCheckpoint`/`saveCheckpoint` throw for a checkpoint that must not be written. */
export class CheckpointEncodeError extends Error {
  override name = 'CheckpointEncodeError';
}

const LITTLE_ENDIAN_HOST = endianness() === 'LE';

export const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

export const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
export const isShape = (s: unknown): s is number[] =>
  Array.isArray(s) && s.every((d) => Number.isSafeInteger(d) && d >= 0);

/** Index of the first NaN or ±Inf in `a`, or -1. */
export const firstNonFinite = (a: Float32Array): number => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
};

/** Float32 bytes in little-endian order whatever the host is. */
export const f32ToLE = (src: Float32Array, dst: Uint8Array): void => {
  if (LITTLE_ENDIAN_HOST) {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return;
  }
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < src.length; i++) v.setFloat32(4 * i, src[i], true);
};

export const f32FromLE = (src: Uint8Array): Float32Array => {
  const out = new Float32Array(src.length / 4);
  if (LITTLE_ENDIAN_HOST) {
    // Copy rather than view: the file buffer need not be 4-byte aligned, and callers may mutate.
    new Uint8Array(out.buffer).set(src);
    return out;
  }
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = v.getFloat32(4 * i, true);
  return out;
};

/** Throws a CheckpointEncodeError naming the tensor unless it is a finite Float32Array of its shape. */
export const checkTensor = (name: string, t: Tensor): void => {
  const refuse = (why: string) => new CheckpointEncodeError(`checkpoint tensor ${name}: ${why}`);
  if (!(t.data instanceof Float32Array)) throw refuse('data must be a Float32Array');
  if (!isShape(t.shape)) throw refuse(`bad shape ${JSON.stringify(t.shape)}`);
  if (numel(t.shape) !== t.data.length) {
    throw refuse(`shape [${t.shape.join(', ')}] has ${numel(t.shape)} elements but data has ${t.data.length}`);
  }
  const bad = firstNonFinite(t.data);
  if (bad >= 0) throw refuse(`element ${bad} is ${t.data[bad]}; a checkpoint holds finite values only`);
};

/** JSON text of `value`; JSON.stringify would silently turn NaN and ±Inf into null, so they are refused. */
export const strictJson = (value: unknown, what: string): string => {
  try {
    return JSON.stringify(value, (key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new CheckpointEncodeError(`${what} field ${JSON.stringify(key)} is ${v}, not a finite number`);
      }
      return v;
    });
  } catch (e) {
    if (e instanceof CheckpointEncodeError) throw e;
    throw new CheckpointEncodeError(`${what} is not JSON-serialisable (${(e as Error).message})`);
  }
};

// Messages quote text from the file (tensor names, the slice of input JSON.parse cites): escape control
// characters so a message stays one line and cannot drive the terminal.
const printable = (s: string): string =>
  s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

export const fail = (kind: CheckpointErrorKind, path: string, what: string): E.Either<CheckpointError, never> =>
  E.left({ kind, path, message: `checkpoint ${path} ${printable(what)}` });

/** Each tensor's data checked finite, in order; a NaN or ±Inf is reported by tensor name. */
export const finiteTensors = (
  path: string,
  tensors: readonly [string, Tensor][],
): E.Either<CheckpointError, Record<string, Tensor>> => {
  for (const [name, t] of tensors) {
    // An older build could save a diverged run; say which tensor rather than resume from NaN.
    const bad = firstNonFinite(t.data);
    if (bad >= 0)
      return fail('non-finite', path, `holds a non-finite value in tensor ${name}: element ${bad} is ${t.data[bad]}`);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return E.right(Object.fromEntries(tensors));
};
