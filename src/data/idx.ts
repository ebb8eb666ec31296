// IDX file parsing (the format MNIST and Fashion-MNIST ship in).
// Header: two zero bytes, a type code (0x08 = unsigned byte, the only one those datasets use),
// the number of dimensions, then one big-endian u32 per dimension; the data follows row-major.
// Gzipped files (Debian ships Fashion-MNIST as *.gz) are inflated transparently.
// Every problem is an IdxError whose message names the file, so a CLI can print it as one line.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** A malformed, unreadable or unusable IDX file (or image/label pair); the message names the file. */
export class IdxError extends Error {
  override name = 'IdxError';
}

/**
 * The most bytes a gzipped IDX file may inflate to. A gzip bomb (kilobytes inflating to terabytes)
 * would otherwise exhaust memory before the header is even read; 1 GiB is far above the IDX data sets
 * this tool trains on (MNIST's training images are 47 MB, EMNIST ByClass's 640 MB), below Node's
 * largest Buffer, and each byte becomes a 4-byte float when loaded, so more would not fit anyway.
 */
export const MAX_INFLATED_IDX_BYTES = 2 ** 30;

export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

/** What the caller expects the file to hold; `any` skips the kind check. */
export type IdxKind = 'images' | 'labels' | 'any';

const UBYTE = 0x08;
const EXPECTED_DIMS: Record<Exclude<IdxKind, 'any'>, number> = { images: 3, labels: 1 };
const TYPE_NAMES: Record<number, string> = {
  0x08: 'ubyte',
  0x09: 'sbyte',
  0x0b: 'short',
  0x0c: 'int',
  0x0d: 'float',
  0x0e: 'double',
};

const isGzip = (b: Uint8Array): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

const inflate = (bytes: Uint8Array, name: string, maxBytes: number): Uint8Array => {
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new IdxError(`${name}: inflates to more than ${maxBytes} bytes, the limit for a gzipped IDX file`);
    }
    throw new IdxError(`${name}: looks gzipped but does not inflate (${(e as Error).message})`);
  }
};

/**
 * Parse IDX bytes (possibly gzipped, inflating to at most `maxInflatedBytes`). `name` only labels
 * error messages. The returned `data` is a view into the (inflated) buffer, not a copy.
 */
export const parseIdx = (
  bytes: Uint8Array,
  name: string,
  kind: IdxKind = 'any',
  maxInflatedBytes = MAX_INFLATED_IDX_BYTES,
): IdxArray => {
  const buf = isGzip(bytes) ? inflate(bytes, name, maxInflatedBytes) : bytes;
  if (buf.length < 4) throw new IdxError(`${name}: too short to be an IDX file (${buf.length} bytes)`);
  const magic = ((buf[0] << 24) | (buf[1] << 16) | (buf[2] << 8) | buf[3]) >>> 0;
  const magicHex = `0x${magic.toString(16).padStart(8, '0')}`;
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new IdxError(`${name}: not an IDX file (bad magic ${magicHex}, first two bytes must be zero)`);
  }
  const type = buf[2];
  const ndim = buf[3];
  if (type !== UBYTE) {
    const tn = TYPE_NAMES[type] ?? 'unknown';
    throw new IdxError(
      `${name}: unsupported IDX element type 0x${type.toString(16)} (${tn}); only ubyte (0x08) is supported`,
    );
  }
  if (kind !== 'any' && ndim !== EXPECTED_DIMS[kind]) {
    const want = EXPECTED_DIMS[kind];
    throw new IdxError(
      `${name}: expected ${kind} (magic ${want === 3 ? 2051 : 2049}, ${want}-D) but magic is ${magic} (${ndim}-D)`,
    );
  }
  if (ndim === 0) throw new IdxError(`${name}: IDX header declares zero dimensions`);
  const headerBytes = 4 + 4 * ndim;
  if (buf.length < headerBytes) {
    throw new IdxError(`${name}: truncated header, ${ndim} dims need ${headerBytes} bytes but file has ${buf.length}`);
  }
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < ndim; i++) dims.push(view.getUint32(4 + 4 * i, false));
  // Nothing is allocated from the header: `data` is a view, and the declared size must equal the bytes
  // present. A product past 2^53 is inexact, but then it exceeds any buffer, so the test still holds.
  const payload = dims.reduce((a, b) => a * b, 1);
  const expected = headerBytes + payload;
  if (buf.length !== expected) {
    const what = buf.length < expected ? 'truncated' : 'has trailing bytes';
    throw new IdxError(
      `${name}: ${what}, header says ${dims.join('×')} = ${expected} bytes but file has ${buf.length}`,
    );
  }
  return { dims, data: buf.subarray(headerBytes) };
};

/** Read and parse an IDX file; errors (IdxError) name the file by its path and the problem. */
export const readIdx = (path: string, kind: IdxKind = 'any'): IdxArray => {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new IdxError(`${path}: IDX file is missing`);
    throw new IdxError(`${path}: cannot read IDX file (${(e as Error).message})`);
  }
  return parseIdx(bytes, path, kind);
};
