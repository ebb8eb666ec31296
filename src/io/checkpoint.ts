// One-file checkpoints, laid out like safetensors so a file can be inspected with a hex dump.
// Format version 2 (what this build writes):
//   bytes  0..8    "DRAWCKPT"
//   bytes  8..12   u32 LE format version (2)
//   bytes 12..16   u32 LE header length H
//   bytes 16..48   sha256 of bytes 0..16 followed by bytes 48..end: every byte of the file except the
//                  digest itself, so a changed header ("T":3 -> "T":7) is caught as well as a payload bit
//   bytes 48..48+H JSON header { meta, tensors: [{ name, shape, offset, length }] }
//   zero padding to a multiple of 4, then the float32 LE payload.
// Offsets and lengths are in bytes relative to the payload start.
// Format version 1 (older builds; still read because users have such files): no digest in the prefix,
// the JSON header starts at byte 16 and carries `sha256`, the hex digest of the payload only, so in a
// version-1 file the header (meta, shapes) is NOT covered by any checksum.
// Tensors hold finite values only: saving refuses NaN/±Inf, loading reports one by tensor name.
// Saving is atomic (temp file, fsync, rename) so a crash mid-save never clobbers the last good file.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from './atomic.ts';

export const CHECKPOINT_MAGIC = 'DRAWCKPT';
export const CHECKPOINT_VERSION = 2;

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
  | 'missing' | 'unreadable' | 'bad-magic' | 'unsupported-version' | 'truncated' | 'bad-header' | 'corrupt'
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

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

interface Header {
  meta?: unknown;
  tensors?: unknown;
  sha256?: unknown;
}

/** How one format version places the header and what its checksum covers. */
interface Layout {
  readonly headerStart: number;
  /** Undefined when the stored checksum matches the bytes it covers, else what is wrong. */
  readonly checksumProblem: (buf: Buffer, header: Header, payloadStart: number) => string | undefined;
}

const FIXED_PREFIX_BYTES = 16; // magic + version + header length, the same in every version
const DIGEST_BYTES = 32;
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

// Version 2's digest: everything but the digest field itself.
const digestV2 = (file: Uint8Array): Buffer =>
  sha256(file.subarray(0, FIXED_PREFIX_BYTES), file.subarray(FIXED_PREFIX_BYTES + DIGEST_BYTES));

const LAYOUTS: Readonly<Record<number, Layout>> = {
  1: {
    headerStart: FIXED_PREFIX_BYTES,
    checksumProblem: (buf, header, payloadStart) => {
      if (typeof header.sha256 !== 'string') return 'the version-1 header has no sha256';
      return sha256(buf.subarray(payloadStart)).toString('hex') === header.sha256 ? undefined : 'checksum mismatch';
    },
  },
  2: {
    headerStart: FIXED_PREFIX_BYTES + DIGEST_BYTES,
    checksumProblem: (buf) =>
      digestV2(buf).equals(buf.subarray(FIXED_PREFIX_BYTES, FIXED_PREFIX_BYTES + DIGEST_BYTES))
        ? undefined : 'checksum mismatch',
  },
};

const align4 = (n: number): number => (n + 3) & ~3;
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isShape = (s: unknown): s is number[] =>
  Array.isArray(s) && s.every((d) => Number.isInteger(d) && d >= 0);

/** Index of the first NaN or ±Inf in `a`, or -1. */
const firstNonFinite = (a: Float32Array): number => {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
};

// Float32 bytes in little-endian order whatever the host is.
const f32ToLE = (src: Float32Array, dst: Uint8Array): void => {
  if (LITTLE_ENDIAN_HOST) {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
    return;
  }
  const v = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
  for (let i = 0; i < src.length; i++) v.setFloat32(4 * i, src[i], true);
};

const f32FromLE = (src: Uint8Array): Float32Array => {
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

const checkTensor = (name: string, t: Tensor): void => {
  const refuse = (why: string) => new CheckpointEncodeError(`checkpoint tensor ${name}: ${why}`);
  if (!(t.data instanceof Float32Array)) throw refuse('data must be a Float32Array');
  if (!isShape(t.shape)) throw refuse(`bad shape ${JSON.stringify(t.shape)}`);
  if (numel(t.shape) !== t.data.length) {
    throw refuse(`shape [${t.shape.join(', ')}] has ${numel(t.shape)} elements but data has ${t.data.length}`);
  }
  const bad = firstNonFinite(t.data);
  if (bad >= 0) throw refuse(`element ${bad} is ${t.data[bad]}; a checkpoint holds finite values only`);
};

// JSON.stringify would silently turn NaN and ±Inf into null; refuse them instead.
const headerJson = (header: { meta: unknown; tensors: TensorEntry[] }): string => {
  try {
    return JSON.stringify(header, (key, v: unknown) => {
      if (typeof v === 'number' && !Number.isFinite(v)) {
        throw new CheckpointEncodeError(`checkpoint meta field ${JSON.stringify(key)} is ${v}, not a finite number`);
      }
      return v;
    });
  } catch (e) {
    if (e instanceof CheckpointEncodeError) throw e;
    throw new CheckpointEncodeError(`checkpoint meta is not JSON-serialisable (${(e as Error).message})`);
  }
};

/** Serialise a checkpoint to bytes (no I/O); throws a CheckpointEncodeError on malformed or non-finite tensors or meta. */
export const encodeCheckpoint = (ckpt: Checkpoint): Buffer => {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    checkTensor(name, t);
    entries.push({ name, shape: [...t.shape], offset, length: t.data.byteLength });
    offset += t.data.byteLength;
  }
  const header = Buffer.from(headerJson({ meta: ckpt.meta ?? null, tensors: entries }), 'utf8');
  const headerStart = LAYOUTS[CHECKPOINT_VERSION].headerStart;
  const payloadStart = align4(headerStart + header.length);
  const out = Buffer.alloc(payloadStart + offset); // zero-filled, so padding is zeros
  out.write(CHECKPOINT_MAGIC, 0, 'latin1');
  out.writeUInt32LE(CHECKPOINT_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, headerStart);
  for (const [i, t] of Object.values(ckpt.tensors).entries()) {
    const at = payloadStart + entries[i].offset;
    f32ToLE(t.data, out.subarray(at, at + entries[i].length));
  }
  digestV2(out).copy(out, FIXED_PREFIX_BYTES);
  return out;
};

/** Save atomically; throws (with the folder named) if it cannot be written. */
export const saveCheckpoint = (path: string, ckpt: Checkpoint): void => {
  writeFileAtomic(path, encodeCheckpoint(ckpt), 'checkpoint');
};

// Messages quote text from the file (tensor names, the slice of input JSON.parse cites): escape control
// characters so a message stays one line and cannot drive the terminal.
const printable = (s: string): string =>
  s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const fail = (kind: CheckpointErrorKind, path: string, what: string): E.Either<CheckpointError, never> =>
  E.left({ kind, path, message: `checkpoint ${path} ${printable(what)}` });

/** Parse checkpoint bytes; `path` only labels errors. Every structural problem is a Left. */
export const decodeCheckpoint = (bytes: Uint8Array, path: string): E.Either<CheckpointError, Checkpoint> => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLen = Math.min(8, buf.length);
  if (buf.subarray(0, magicLen).toString('latin1') !== CHECKPOINT_MAGIC.slice(0, magicLen)) {
    return fail('bad-magic', path, 'is not a DRAW checkpoint (bad magic)');
  }
  const tooShort = () => fail('truncated', path, `is truncated (${buf.length} bytes, shorter than the fixed prefix)`);
  if (buf.length < FIXED_PREFIX_BYTES) return tooShort();
  const version = buf.readUInt32LE(8);
  const layout = LAYOUTS[version];
  if (layout === undefined) {
    return fail('unsupported-version', path, `has format version ${version}; this build reads versions ${Object.keys(LAYOUTS).join(' and ')}`);
  }
  if (buf.length < layout.headerStart) return tooShort();
  // Every size read from the file is checked against the file's length before it is used.
  const headerLen = buf.readUInt32LE(12);
  const headerEnd = layout.headerStart + headerLen;
  if (headerEnd > buf.length) {
    return fail('truncated', path, `is truncated (header says ${headerLen} header bytes but file has ${buf.length} bytes in all)`);
  }
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(layout.headerStart, headerEnd).toString('utf8'));
  } catch (e) {
    return fail('bad-header', path, `has an unreadable header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || !Array.isArray(header.tensors)) {
    return fail('bad-header', path, 'has a malformed header (needs tensors[])');
  }
  const entries = header.tensors as TensorEntry[];
  const names = new Set<string>();
  let expectedPayload = 0;
  for (const t of entries) {
    const ok = t && typeof t.name === 'string' && isShape(t.shape) && t.offset === expectedPayload && t.length === 4 * numel(t.shape);
    if (!ok) return fail('bad-header', path, `has a malformed tensor entry ${JSON.stringify(t)}`);
    if (names.has(t.name)) return fail('bad-header', path, `has two tensors named ${JSON.stringify(t.name)}`);
    names.add(t.name);
    expectedPayload += t.length;
  }
  const payloadStart = align4(headerEnd);
  const actualPayload = buf.length - payloadStart;
  if (actualPayload < expectedPayload) {
    return fail('truncated', path, `is truncated (payload should be ${expectedPayload} bytes, found ${Math.max(0, actualPayload)})`);
  }
  if (actualPayload > expectedPayload) {
    return fail('corrupt', path, `is corrupt: ${actualPayload - expectedPayload} unexpected bytes after the payload`);
  }
  const problem = layout.checksumProblem(buf, header, payloadStart);
  if (problem !== undefined) return fail('corrupt', path, `is corrupt: ${problem}`);
  const tensors: [string, Tensor][] = [];
  for (const t of entries) {
    const data = f32FromLE(buf.subarray(payloadStart + t.offset, payloadStart + t.offset + t.length));
    // An older build could save a diverged run; say which tensor rather than resume from NaN.
    const bad = firstNonFinite(data);
    if (bad >= 0) return fail('non-finite', path, `holds a non-finite value in tensor ${t.name}: element ${bad} is ${data[bad]}`);
    tensors.push([t.name, { shape: t.shape, data }]);
  }
  // fromEntries defines own properties, so a tensor named "__proto__" stays a tensor.
  return E.right({ meta: header.meta ?? null, tensors: Object.fromEntries(tensors) });
};

/** Read and verify a checkpoint (magic, version, header, sizes, checksum). */
export const loadCheckpoint = (path: string): E.Either<CheckpointError, Checkpoint> => {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return fail('missing', path, 'is missing');
    return fail('unreadable', path, `cannot be read (${err.code ?? err.message})`);
  }
  return decodeCheckpoint(bytes, path);
};
