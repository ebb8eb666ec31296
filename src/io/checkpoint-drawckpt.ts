// The reader of the checkpoints builds before safetensors wrote (they are still loaded: users have them).
// Format version 2:
//   bytes  0..8    "DRAWCKPT"
//   bytes  8..12   u32 LE format version (2)
//   bytes 12..16   u32 LE header length H
//   bytes 16..48   sha256 of bytes 0..16 followed by bytes 48..end: every byte of the file except the
//                  digest itself, so a changed header ("T":3 -> "T":7) is caught as well as a payload bit
//   bytes 48..48+H JSON header { meta, tensors: [{ name, shape, offset, length }] }
//   zero padding to a multiple of 4, then the float32 LE payload.
// Offsets and lengths are in bytes relative to the payload start.
// Format version 1: no digest in the prefix, the JSON header starts at byte 16 and carries `sha256`, the
// hex digest of the payload only, so in a version-1 file the header (meta, shapes) is NOT covered by any
// checksum.
import * as E from 'fp-ts/lib/Either.js';
import {
  type Checkpoint,
  type CheckpointError,
  type Tensor,
  fail,
  finiteTensors,
  f32FromLE,
  isShape,
  numel,
  sha256,
} from './checkpoint-format.ts';

export const DRAWCKPT_MAGIC = 'DRAWCKPT';

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
    // everything but the digest field itself
    checksumProblem: (buf) =>
      sha256(buf.subarray(0, FIXED_PREFIX_BYTES), buf.subarray(FIXED_PREFIX_BYTES + DIGEST_BYTES)).equals(
        buf.subarray(FIXED_PREFIX_BYTES, FIXED_PREFIX_BYTES + DIGEST_BYTES),
      )
        ? undefined
        : 'checksum mismatch',
  },
};

const align4 = (n: number): number => (n + 3) & ~3;

/** Whether `buf` starts like a DRAWCKPT file (or is a truncated start of one). */
export const looksLikeDrawckpt = (buf: Buffer): boolean => {
  const magicLen = Math.min(DRAWCKPT_MAGIC.length, buf.length);
  return buf.subarray(0, magicLen).toString('latin1') === DRAWCKPT_MAGIC.slice(0, magicLen);
};

/** Parses a DRAWCKPT file (versions 1 and 2); `path` only labels errors. Every structural problem is a Left. */
export const decodeDrawckpt = (buf: Buffer, path: string): E.Either<CheckpointError, Checkpoint> => {
  const tooShort = () => fail('truncated', path, `is truncated (${buf.length} bytes, shorter than the fixed prefix)`);
  if (buf.length < FIXED_PREFIX_BYTES) return tooShort();
  const version = buf.readUInt32LE(8);
  const layout = LAYOUTS[version];
  if (layout === undefined) {
    return fail(
      'unsupported-version',
      path,
      `has DRAWCKPT format version ${version}; this build reads versions ${Object.keys(LAYOUTS).join(' and ')} (and safetensors)`,
    );
  }
  if (buf.length < layout.headerStart) return tooShort();
  // Every size read from the file is checked against the file's length before it is used.
  const headerLen = buf.readUInt32LE(12);
  const headerEnd = layout.headerStart + headerLen;
  if (headerEnd > buf.length) {
    return fail(
      'truncated',
      path,
      `is truncated (header says ${headerLen} header bytes but file has ${buf.length} bytes in all)`,
    );
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
    const ok =
      t &&
      typeof t.name === 'string' &&
      isShape(t.shape) &&
      t.offset === expectedPayload &&
      t.length === 4 * numel(t.shape);
    if (!ok) return fail('bad-header', path, `has a malformed tensor entry ${JSON.stringify(t)}`);
    if (names.has(t.name)) return fail('bad-header', path, `has two tensors named ${JSON.stringify(t.name)}`);
    names.add(t.name);
    expectedPayload += t.length;
  }
  const payloadStart = align4(headerEnd);
  const actualPayload = buf.length - payloadStart;
  if (actualPayload < expectedPayload) {
    return fail(
      'truncated',
      path,
      `is truncated (payload should be ${expectedPayload} bytes, found ${Math.max(0, actualPayload)})`,
    );
  }
  if (actualPayload > expectedPayload) {
    return fail('corrupt', path, `is corrupt: ${actualPayload - expectedPayload} unexpected bytes after the payload`);
  }
  const problem = layout.checksumProblem(buf, header, payloadStart);
  if (problem !== undefined) return fail('corrupt', path, `is corrupt: ${problem}`);
  const tensors = entries.map((t): [string, Tensor] => [
    t.name,
    { shape: t.shape, data: f32FromLE(buf.subarray(payloadStart + t.offset, payloadStart + t.offset + t.length)) },
  ]);
  return E.map((ts: Record<string, Tensor>) => ({ meta: header.meta ?? null, tensors: ts }))(
    finiteTensors(path, tensors),
  );
};
