// One-file checkpoints, laid out like safetensors so a file can be inspected with a hex dump:
//   "DRAWCKPT" | u32 LE version | u32 LE header length | JSON header | zero padding to 4 bytes |
//   float32 LE payload.
// The header is { meta, tensors: [{ name, shape, offset, length }], sha256 }, offsets and lengths in
// bytes relative to the payload start; sha256 covers the payload so a flipped bit is caught on load.
// Saving is atomic (temp file, fsync, rename) so a crash mid-save never clobbers the last good file.

import { createHash } from 'node:crypto';
import {
  closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync,
} from 'node:fs';
import { endianness } from 'node:os';
import { dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';

export const CHECKPOINT_MAGIC = 'DRAWCKPT';
export const CHECKPOINT_VERSION = 1;

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
  | 'missing' | 'unreadable' | 'bad-magic' | 'unsupported-version' | 'truncated' | 'bad-header' | 'corrupt';

export interface CheckpointError {
  readonly kind: CheckpointErrorKind;
  readonly path: string;
  readonly message: string;
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

const PREFIX_BYTES = 16; // magic + version + header length
const LITTLE_ENDIAN_HOST = endianness() === 'LE';

const align4 = (n: number): number => (n + 3) & ~3;
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const isShape = (s: unknown): s is number[] =>
  Array.isArray(s) && s.every((d) => Number.isInteger(d) && d >= 0);

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

/** Serialise a checkpoint to bytes (no I/O); throws on malformed tensors or non-JSON meta. */
export const encodeCheckpoint = (ckpt: Checkpoint): Buffer => {
  const entries: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(ckpt.tensors)) {
    if (!(t.data instanceof Float32Array)) throw new Error(`checkpoint tensor ${name}: data must be a Float32Array`);
    if (!isShape(t.shape)) throw new Error(`checkpoint tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
    if (numel(t.shape) !== t.data.length) {
      throw new Error(`checkpoint tensor ${name}: shape [${t.shape.join(', ')}] has ${numel(t.shape)} elements but data has ${t.data.length}`);
    }
    entries.push({ name, shape: [...t.shape], offset, length: t.data.byteLength });
    offset += t.data.byteLength;
  }
  const payload = new Uint8Array(offset);
  for (const [i, t] of Object.values(ckpt.tensors).entries()) {
    f32ToLE(t.data, payload.subarray(entries[i].offset, entries[i].offset + entries[i].length));
  }
  const sha256 = createHash('sha256').update(payload).digest('hex');
  let json: string;
  try {
    json = JSON.stringify({ meta: ckpt.meta ?? null, tensors: entries, sha256 });
  } catch (e) {
    throw new Error(`checkpoint meta is not JSON-serialisable (${(e as Error).message})`);
  }
  const header = Buffer.from(json, 'utf8');
  const payloadStart = align4(PREFIX_BYTES + header.length);
  const out = Buffer.alloc(payloadStart + payload.length); // zero-filled, so padding is zeros
  out.write(CHECKPOINT_MAGIC, 0, 'latin1');
  out.writeUInt32LE(CHECKPOINT_VERSION, 8);
  out.writeUInt32LE(header.length, 12);
  header.copy(out, PREFIX_BYTES);
  out.set(payload, payloadStart);
  return out;
};

let tmpCounter = 0;

/**
 * Write `bytes` to `path` atomically: a temp file in the same folder (so rename stays on one
 * file system), fsync, then rename. On any failure the temp file is removed and `path` is untouched.
 * `what` names the file in error messages ("checkpoint", "image"...).
 */
export const writeFileAtomic = (path: string, bytes: Uint8Array, what = 'file'): void => {
  const dir = dirname(path);
  let dirOk = false;
  try {
    dirOk = statSync(dir).isDirectory();
  } catch {
    dirOk = false;
  }
  if (!dirOk) throw new Error(`cannot write ${what} ${path}: folder ${dir} does not exist or is not a folder`);
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try { closeSync(fd); } catch { /* already failing; keep the first error */ }
    }
    try { if (existsSync(tmp)) unlinkSync(tmp); } catch { /* nothing more we can do */ }
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EACCES' || err.code === 'EPERM' || err.code === 'EROFS'
      ? `folder ${dir} is not writable (${err.code})`
      : err.message;
    throw new Error(`cannot write ${what} ${path}: ${why}`);
  }
};

/** Save atomically; throws (with the folder named) if it cannot be written. */
export const saveCheckpoint = (path: string, ckpt: Checkpoint): void => {
  writeFileAtomic(path, encodeCheckpoint(ckpt), 'checkpoint');
};

const fail = (kind: CheckpointErrorKind, path: string, what: string): E.Either<CheckpointError, never> =>
  E.left({ kind, path, message: `checkpoint ${path} ${what}` });

/** Parse checkpoint bytes; `path` only labels errors. Every structural problem is a Left. */
export const decodeCheckpoint = (bytes: Uint8Array, path: string): E.Either<CheckpointError, Checkpoint> => {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLen = Math.min(8, buf.length);
  if (buf.subarray(0, magicLen).toString('latin1') !== CHECKPOINT_MAGIC.slice(0, magicLen)) {
    return fail('bad-magic', path, 'is not a DRAW checkpoint (bad magic)');
  }
  if (buf.length < PREFIX_BYTES) return fail('truncated', path, `is truncated (${buf.length} bytes, shorter than the fixed prefix)`);
  const version = buf.readUInt32LE(8);
  if (version !== CHECKPOINT_VERSION) {
    return fail('unsupported-version', path, `has format version ${version}; this build reads version ${CHECKPOINT_VERSION}`);
  }
  const headerLen = buf.readUInt32LE(12);
  if (PREFIX_BYTES + headerLen > buf.length) {
    return fail('truncated', path, `is truncated (header says ${headerLen} header bytes but file has ${buf.length} bytes in all)`);
  }
  let header: { meta?: unknown; tensors?: unknown; sha256?: unknown };
  try {
    header = JSON.parse(buf.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLen).toString('utf8'));
  } catch (e) {
    return fail('bad-header', path, `has an unreadable header (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || !Array.isArray(header.tensors) || typeof header.sha256 !== 'string') {
    return fail('bad-header', path, 'has a malformed header (needs tensors[] and sha256)');
  }
  const entries = header.tensors as TensorEntry[];
  let expectedPayload = 0;
  for (const t of entries) {
    const ok = t && typeof t.name === 'string' && isShape(t.shape) && t.offset === expectedPayload && t.length === 4 * numel(t.shape);
    if (!ok) return fail('bad-header', path, `has a malformed tensor entry ${JSON.stringify(t)}`);
    expectedPayload += t.length;
  }
  const payloadStart = align4(PREFIX_BYTES + headerLen);
  const actualPayload = buf.length - payloadStart;
  if (actualPayload < expectedPayload) {
    return fail('truncated', path, `is truncated (payload should be ${expectedPayload} bytes, found ${Math.max(0, actualPayload)})`);
  }
  if (actualPayload > expectedPayload) {
    return fail('corrupt', path, `is corrupt: ${actualPayload - expectedPayload} unexpected bytes after the payload`);
  }
  const payload = buf.subarray(payloadStart);
  const sha = createHash('sha256').update(payload).digest('hex');
  if (sha !== header.sha256) return fail('corrupt', path, 'is corrupt: checksum mismatch');
  const tensors: Record<string, Tensor> = {};
  for (const t of entries) {
    tensors[t.name] = { shape: t.shape, data: f32FromLE(payload.subarray(t.offset, t.offset + t.length)) };
  }
  return E.right({ meta: header.meta ?? null, tensors });
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
