// Checkpoints as safetensors files (https://github.com/huggingface/safetensors, "Format"), which any
// safetensors reader opens:
//   bytes 0..8      N, u64 little-endian: the header's length
//   bytes 8..8+N    JSON header, padded with spaces (0x20) so that N is a multiple of 8:
//                   { "__metadata__": { string: string }, NAME: { "dtype": "F32", "shape": [...],
//                     "data_offsets": [BEGIN, END] }, ... }
//   bytes 8+N..     the payload: every tensor's float32 values, little-endian, row-major; offsets are
//                   relative to the payload's start, contiguous and in the header's order, no holes.
// draw-ts's own rules on top of the format:
// - `__metadata__` is the header's first key and `sha256` its first entry, so the header starts with the
//   27 bytes {"__metadata__":{"sha256":" and the digest's 64 lower-case hex digits are always bytes
//   35..99 of the file. The digest is the SHA-256 of the WHOLE file (length prefix, header with its
//   padding, payload) as it would be with those 64 digits written as ASCII '0'. In Python:
//     b = open(f, 'rb').read(); hashlib.sha256(b[:35] + b'0' * 64 + b[99:]).hexdigest() == b[35:99].decode()
// - every other `__metadata__` entry is one top-level field of the checkpoint's meta (config, step,
//   seed, optimiser settings...), its value the field's JSON text, so meta must be a JSON object.
// - tensors hold finite float32 values only: saving refuses NaN/±Inf, loading reports one by name.
import * as E from 'fp-ts/lib/Either.js';
import {
  type Checkpoint,
  type CheckpointError,
  type Tensor,
  CheckpointEncodeError,
  checkTensor,
  fail,
  finiteTensors,
  f32FromLE,
  f32ToLE,
  isShape,
  numel,
  sha256,
  strictJson,
} from './checkpoint-format.ts';

const LENGTH_BYTES = 8;
const HEADER_START = '{"__metadata__":{"sha256":"';
export const SAFETENSORS_CHECKSUM_AT = LENGTH_BYTES + HEADER_START.length;
const DIGEST_HEX = 64;
/** The reference implementation's limit; a longer header is refused before it is parsed. */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;
const CHECKSUM_KEY = 'sha256';
const METADATA_KEY = '__metadata__';

const digestOf = (file: Buffer): string => {
  const at = SAFETENSORS_CHECKSUM_AT;
  return sha256(file.subarray(0, at), Buffer.alloc(DIGEST_HEX, '0'), file.subarray(at + DIGEST_HEX)).toString('hex');
};

/** meta's top-level fields as the string→string map safetensors' metadata must be. */
const metadataOf = (meta: unknown): [string, string][] => {
  if (meta === null || meta === undefined) return [];
  if (typeof meta !== 'object' || Array.isArray(meta)) {
    throw new CheckpointEncodeError(
      `checkpoint meta must be a JSON object (safetensors metadata maps names to strings), got ${Array.isArray(meta) ? 'an array' : typeof meta}`,
    );
  }
  if (CHECKSUM_KEY in meta)
    throw new CheckpointEncodeError(`checkpoint meta field "${CHECKSUM_KEY}" is reserved for the file's checksum`);
  return Object.entries(meta).flatMap(([k, v]): [string, string][] => {
    const text = strictJson(v, `checkpoint meta ${JSON.stringify(k)}`);
    return text === undefined ? [] : [[k, text]]; // undefined fields are dropped, as JSON.stringify does
  });
};

/** Serialise a checkpoint as safetensors bytes (no I/O); throws a CheckpointEncodeError on bad tensors or meta. */
export const encodeSafetensors = (ckpt: Checkpoint): Buffer => {
  const tensors = Object.entries(ckpt.tensors);
  const json = (v: unknown) => JSON.stringify(v);
  const metadata = metadataOf(ckpt.meta)
    .map(([k, v]) => `,${json(k)}:${json(v)}`)
    .join('');
  let offset = 0;
  // Built by hand, not from an object: JavaScript would move integer-like tensor names ("0") first.
  const entries = tensors
    .map(([name, t]) => {
      checkTensor(name, t);
      const begin = offset;
      offset += t.data.byteLength;
      return `,${json(name)}:{"dtype":"F32","shape":${json([...t.shape])},"data_offsets":[${begin},${offset}]}`;
    })
    .join('');
  const text = Buffer.from(`${HEADER_START}${'0'.repeat(DIGEST_HEX)}"${metadata}}${entries}}`, 'utf8');
  const headerBytes = Math.ceil(text.length / 8) * 8;
  if (headerBytes > MAX_SAFETENSORS_HEADER_BYTES)
    throw new CheckpointEncodeError(
      `checkpoint header is ${headerBytes} bytes, over safetensors' limit of ${MAX_SAFETENSORS_HEADER_BYTES}`,
    );
  const out = Buffer.alloc(LENGTH_BYTES + headerBytes + offset, 0x20); // the header's padding: spaces
  out.writeBigUInt64LE(BigInt(headerBytes), 0);
  text.copy(out, LENGTH_BYTES);
  const payloadStart = LENGTH_BYTES + headerBytes;
  let at = payloadStart;
  for (const [, t] of tensors) {
    f32ToLE(t.data, out.subarray(at, at + t.data.byteLength));
    at += t.data.byteLength;
  }
  out.write(digestOf(out), SAFETENSORS_CHECKSUM_AT, 'latin1');
  return out;
};

interface Entry {
  readonly name: string;
  readonly shape: number[];
  readonly begin: number;
  readonly end: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One tensor entry of the header, or what is wrong with it. */
const entryOf = (name: string, v: unknown): Entry | string => {
  if (!isRecord(v)) return `tensor ${name} has no dtype/shape/data_offsets`;
  const extra = Object.keys(v).find((k) => !['dtype', 'shape', 'data_offsets'].includes(k));
  if (extra !== undefined) return `tensor ${name} has an unknown field ${JSON.stringify(extra)}`;
  if (v.dtype !== 'F32') return `tensor ${name} has dtype ${JSON.stringify(v.dtype)}; draw-ts reads F32 only`;
  if (!isShape(v.shape)) return `tensor ${name} has a bad shape ${JSON.stringify(v.shape)}`;
  const o = v.data_offsets;
  if (!Array.isArray(o) || o.length !== 2 || !o.every((n) => Number.isSafeInteger(n) && n >= 0) || o[1] < o[0]) {
    return `tensor ${name} has bad data_offsets ${JSON.stringify(o)}`;
  }
  // numel may be astronomically large here; it is only compared, never allocated
  if (o[1] - o[0] !== 4 * numel(v.shape))
    return `tensor ${name}: shape [${v.shape.join(', ')}] needs ${4 * numel(v.shape)} bytes, data_offsets span ${o[1] - o[0]}`;
  return { name, shape: v.shape, begin: o[0], end: o[1] };
};

/** The checkpoint's meta from the metadata map: each entry but the checksum is one field's JSON text. */
const metaOf = (metadata: Record<string, unknown>): Record<string, unknown> | string => {
  const fields: [string, unknown][] = [];
  for (const [k, v] of Object.entries(metadata)) {
    if (k === CHECKSUM_KEY) continue;
    if (typeof v !== 'string') return `has a non-string __metadata__ entry ${JSON.stringify(k)}`;
    try {
      fields.push([k, JSON.parse(v)]);
    } catch {
      return `has a __metadata__ entry ${JSON.stringify(k)} that is not JSON text`;
    }
  }
  return Object.fromEntries(fields);
};

/** Whether `buf` could be a safetensors file: a length prefix then a header starting with '{'. */
export const looksLikeSafetensors = (buf: Buffer): boolean => buf.length <= LENGTH_BYTES || buf[LENGTH_BYTES] === 0x7b;

/** Parses a draw-ts safetensors checkpoint; `path` only labels errors. Every structural problem is a Left. */
export const decodeSafetensors = (buf: Buffer, path: string): E.Either<CheckpointError, Checkpoint> => {
  if (buf.length < LENGTH_BYTES)
    return fail('truncated', path, `is truncated (${buf.length} bytes, shorter than the 8-byte header length)`);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(MAX_SAFETENSORS_HEADER_BYTES))
    return fail(
      'bad-header',
      path,
      `has a ${n}-byte header, over safetensors' limit of ${MAX_SAFETENSORS_HEADER_BYTES}`,
    );
  const headerEnd = LENGTH_BYTES + Number(n);
  if (headerEnd > buf.length)
    return fail(
      'truncated',
      path,
      `is truncated (header says ${n} header bytes but file has ${buf.length} bytes in all)`,
    );
  let header: unknown;
  try {
    header = JSON.parse(buf.subarray(LENGTH_BYTES, headerEnd).toString('utf8'));
  } catch (e) {
    return fail('bad-header', path, `has an unreadable header (${(e as Error).message})`);
  }
  if (!isRecord(header)) return fail('bad-header', path, 'has a header that is not a JSON object');
  const metadata = header[METADATA_KEY];
  const stored = isRecord(metadata) ? metadata[CHECKSUM_KEY] : undefined;
  const at = SAFETENSORS_CHECKSUM_AT;
  if (
    buf.subarray(LENGTH_BYTES, at).toString('latin1') !== HEADER_START ||
    typeof stored !== 'string' ||
    !/^[0-9a-f]{64}$/.test(stored) ||
    buf.subarray(at, at + DIGEST_HEX).toString('latin1') !== stored
  ) {
    return fail(
      'bad-header',
      path,
      'is a safetensors file without the draw-ts checksum (__metadata__.sha256 first in its header)',
    );
  }
  const entries: Entry[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const e = entryOf(name, v);
    if (typeof e === 'string') return fail('bad-header', path, `has a malformed header: ${e}`);
    entries.push(e);
  }
  // The file's order is the offsets' order (JSON.parse puts integer-like names first).
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const e of entries) {
    if (e.begin !== expected)
      return fail(
        'bad-header',
        path,
        `has a malformed header: tensor ${e.name} starts at payload byte ${e.begin}, expected ${expected} (offsets must be contiguous)`,
      );
    expected = e.end;
  }
  const payload = buf.length - headerEnd;
  if (payload < expected)
    return fail('truncated', path, `is truncated (payload should be ${expected} bytes, found ${payload})`);
  if (payload > expected)
    return fail('corrupt', path, `is corrupt: ${payload - expected} unexpected bytes after the payload`);
  if (digestOf(buf) !== stored) return fail('corrupt', path, 'is corrupt: checksum mismatch');
  const meta = metaOf(metadata as Record<string, unknown>);
  if (typeof meta === 'string') return fail('bad-header', path, meta);
  const tensors = entries.map((e): [string, Tensor] => [
    e.name,
    { shape: e.shape, data: f32FromLE(buf.subarray(headerEnd + e.begin, headerEnd + e.end)) },
  ]);
  return E.map((ts: Record<string, Tensor>) => ({ meta, tensors: ts }))(finiteTensors(path, tensors));
};
