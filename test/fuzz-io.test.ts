// Fuzzing the readers that take bytes from disk: random bytes, and valid files mutated (bit flips,
// truncations, insertions, size fields set to huge values). They may only return a value or report a
// known error; never another error class, a hang, or an allocation sized by an unchecked header.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { IdxError, MAX_INFLATED_IDX_BYTES, parseIdx, type IdxKind } from '../src/data/idx.ts';
import { DRAWCKPT_MAGIC, decodeCheckpoint, encodeCheckpoint, type CheckpointErrorKind } from '../src/io/checkpoint.ts';
import { SAFETENSORS_CHECKSUM_AT } from '../src/io/safetensors.ts';
import { idxBytes } from './idx-helpers.ts';
import { encodeV2, sealV2 } from './checkpoint-legacy.ts';

const RUNS = { seed: 20240611, numRuns: 400 };
const TIMEOUT_MS = 60_000;
const HUGE_U32 = [0xffffffff, 0x80000000, 0x7fffffff, 0x10000, 0] as const;

// The inputs are at most a few KB; an allocation sized by a header (4 GB for a length of 0xffffffff)
// would show as growth far past this, since ArrayBuffers are only released by a later GC.
const MAX_GROWTH_BYTES = 64 * 2 ** 20;
const arrayBufferBytes = (): number => process.memoryUsage().arrayBuffers;

type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'u32'; at: number; value: number };

// fast-check biases integers towards small ones, which would keep every mutation in the first bytes;
// a position (taken modulo the length) must be as likely in the header or payload as in the prefix.
const arbPosition = fc.noBias(fc.nat());

/** Byte-level mutations; `fields` are offsets of size fields worth setting to huge values. */
const arbMutations = (fields: readonly number[]): fc.Arbitrary<Mutation[]> =>
  fc.array(
    fc.oneof(
      fc.record({ op: fc.constant('flip' as const), at: arbPosition, bit: fc.nat(7) }),
      fc.record({ op: fc.constant('truncate' as const), at: arbPosition }),
      fc.record({
        op: fc.constant('insert' as const),
        at: arbPosition,
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
      fc.record({
        op: fc.constant('u32' as const),
        at: fc.oneof(fc.constantFrom(...fields), arbPosition),
        value: fc.oneof(fc.constantFrom(...HUGE_U32), fc.nat()),
      }),
    ),
    { maxLength: 4 },
  ); // none too: the unmutated file must parse

const mutate = (original: Uint8Array, mutations: readonly Mutation[], littleEndian: boolean): Buffer =>
  mutations.reduce((b, m) => {
    if (m.op === 'truncate') return b.subarray(0, m.at % (b.length + 1));
    if (m.op === 'insert') {
      const at = m.at % (b.length + 1);
      return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    }
    const out = Buffer.from(b);
    if (m.op === 'flip' && out.length > 0) out[m.at % out.length] ^= 1 << m.bit;
    if (m.op === 'u32' && out.length >= 4) {
      const at = m.at % (out.length - 3);
      if (littleEndian) out.writeUInt32LE(m.value, at);
      else out.writeUInt32BE(m.value, at);
    }
    return out;
  }, Buffer.from(original));

describe('parseIdx under fuzzing', () => {
  const images = idxBytes(
    [3, 4, 5],
    Array.from({ length: 60 }, (_, i) => (i * 37) & 0xff),
  );
  const labels = idxBytes([3], [7, 0, 9]);
  const IDX_SIZE_FIELDS = [0, 4, 8, 12]; // magic+type+ndim, then the dims

  const arbKind = fc.constantFrom<IdxKind>('any', 'images', 'labels');
  // A mutated file is read as what it was (or as 'any') so that mutations reach past the kind check.
  const arbInput: fc.Arbitrary<{ raw: Uint8Array; kind: IdxKind }> = fc.oneof(
    fc.record({ raw: fc.uint8Array({ maxLength: 300 }), kind: arbKind }),
    // past the magic, so the dims and sizes get exercised
    fc.record({
      raw: fc
        .tuple(fc.nat(255), fc.uint8Array({ maxLength: 300 }))
        .map(([ndim, rest]) => Buffer.concat([Buffer.from([0, 0, 8, ndim]), rest])),
      kind: arbKind,
    }),
    fc
      .tuple(
        fc.constantFrom(['images', images] as const, ['labels', labels] as const),
        fc.boolean(),
        arbMutations(IDX_SIZE_FIELDS),
      )
      .map(([[kind, base], asAny, ms]) => ({ raw: mutate(base, ms, false), kind: asAny ? ('any' as const) : kind })),
  );

  it(
    'returns a consistent array or throws an IdxError naming the input',
    () => {
      fc.assert(
        fc.property(
          arbInput,
          fc.boolean(),
          fc.constantFrom(MAX_INFLATED_IDX_BYTES, 64), // 64 bytes: most gzipped inputs hit the limit
          ({ raw, kind }, gzipped, limit) => {
            const bytes = gzipped ? gzipSync(raw) : raw;
            const before = arrayBufferBytes();
            let result: ReturnType<typeof parseIdx> | undefined;
            try {
              result = parseIdx(bytes, 'fuzz.idx', kind, limit);
            } catch (e) {
              expect(e).toBeInstanceOf(IdxError);
              expect((e as Error).message).toMatch(/^fuzz\.idx: [^\u0000-\u001f\u007f-\u009f]+$/);
            }
            expect(arrayBufferBytes() - before).toBeLessThan(MAX_GROWTH_BYTES);
            if (result === undefined) return;
            expect(result.dims.length).toBeGreaterThan(0);
            if (kind !== 'any') expect(result.dims.length).toBe(kind === 'images' ? 3 : 1);
            expect(result.data.length).toBe(result.dims.reduce((a, b) => a * b, 1));
          },
        ),
        RUNS,
      );
    },
    TIMEOUT_MS,
  );
});

interface FormatUnderTest {
  readonly name: string;
  readonly valid: Buffer;
  /** Offsets of size fields worth setting to huge values. */
  readonly sizeFields: readonly number[];
  readonly payloadStart: number;
  /** Recomputes the checksum, so a mutation gets past it to the header checks. */
  readonly reseal: (b: Buffer) => Buffer;
  /** The file with one field of one tensor entry of its JSON header set to `value`, resealed. */
  readonly withTensorField: (tensor: number, field: number, value: unknown) => Buffer;
}

const CHECKPOINT = {
  meta: { config: { T: 3, read: 'attention' }, step: 12 },
  tensors: {
    'enc/W': { shape: [4, 6], data: Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1) },
    'enc/b': { shape: [6], data: new Float32Array(6).fill(0.25) },
    empty: { shape: [0, 3], data: new Float32Array(0) },
  },
};

const safetensors = ((): FormatUnderTest => {
  const valid = encodeCheckpoint(CHECKPOINT);
  const n = Number(valid.readBigUInt64LE(0));
  const at = SAFETENSORS_CHECKSUM_AT;
  const reseal = (b: Buffer): Buffer => {
    if (b.length < at + 64 || b.subarray(8, at).toString('latin1') !== '{"__metadata__":{"sha256":"') return b;
    const out = Buffer.from(b);
    out.fill('0', at, at + 64);
    out.write(createHash('sha256').update(out).digest('hex'), at, 'latin1');
    return out;
  };
  const fields = ['dtype', 'shape', 'data_offsets', 'extra'];
  return {
    name: 'safetensors',
    valid,
    sizeFields: [0, 4],
    payloadStart: 8 + n,
    reseal,
    withTensorField: (tensor, field, value) => {
      const header = JSON.parse(valid.subarray(8, 8 + n).toString('utf8'));
      const names = Object.keys(header).filter((k) => k !== '__metadata__');
      header[names[tensor % names.length]][fields[field % fields.length]] = value;
      const json = JSON.stringify(header);
      const text = Buffer.from(json.padEnd(Math.ceil(Buffer.byteLength(json) / 8) * 8, ' '), 'utf8');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(text.length));
      return reseal(Buffer.concat([len, text, valid.subarray(8 + n)]));
    },
  };
})();

const drawckptV2 = ((): FormatUnderTest => {
  const valid = encodeV2(CHECKPOINT);
  const n = valid.readUInt32LE(12);
  const payloadStart = (48 + n + 3) & ~3;
  const fields = ['name', 'shape', 'offset', 'length'];
  return {
    name: 'DRAWCKPT version 2',
    valid,
    sizeFields: [8, 12],
    payloadStart,
    reseal: sealV2,
    withTensorField: (tensor, field, value) => {
      const header = JSON.parse(valid.subarray(48, 48 + n).toString('utf8'));
      header.tensors[tensor % header.tensors.length][fields[field % fields.length]] = value;
      const json = Buffer.from(JSON.stringify(header), 'utf8');
      const prefix = Buffer.from(valid.subarray(0, 48));
      prefix.writeUInt32LE(json.length, 12);
      const padding = Buffer.alloc(((48 + json.length + 3) & ~3) - 48 - json.length);
      return sealV2(Buffer.concat([prefix, json, padding, valid.subarray(payloadStart)]));
    },
  };
})();

describe.each([safetensors, drawckptV2])('decodeCheckpoint under fuzzing: $name', (format) => {
  const KNOWN_KINDS: readonly CheckpointErrorKind[] = [
    'missing',
    'unreadable',
    'bad-magic',
    'unsupported-version',
    'truncated',
    'bad-header',
    'corrupt',
    'non-finite',
  ];
  const { valid, reseal } = format;

  const hostile = fc.constantFrom<unknown>(
    2 ** 32,
    2 ** 53,
    1e308,
    -1,
    0.5,
    null,
    'x',
    '__proto__',
    'F16',
    'F32',
    {},
    [2 ** 31, 2 ** 31],
    [0xffffffff, 0xffffffff, 0xffffffff],
    [],
    [-4],
    [0, 2 ** 53],
    [96, 0],
    [0, 96],
  );

  // Each input says whether it must be rejected: any change to the file that was not resealed.
  const arbInput: fc.Arbitrary<{ bytes: Buffer; mustReject: boolean }> = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((b) => ({ bytes: Buffer.from(b), mustReject: false })),
    fc.tuple(fc.constantFrom(1, 2, 3, 0xffffffff), fc.uint8Array({ maxLength: 300 })).map(([version, rest]) => {
      const prefix = Buffer.alloc(12);
      prefix.write(DRAWCKPT_MAGIC, 0, 'latin1');
      prefix.writeUInt32LE(version, 8);
      return { bytes: Buffer.concat([prefix, rest]), mustReject: false };
    }),
    // a safetensors length prefix (small or huge) before random bytes that start like a header
    fc
      .tuple(fc.oneof(fc.nat(400), fc.constantFrom(2 ** 32, 2 ** 53, 1e8 + 8)), fc.uint8Array({ maxLength: 300 }))
      .map(([n, rest]) => {
        const prefix = Buffer.alloc(9);
        prefix.writeBigUInt64LE(BigInt(n));
        prefix[8] = 0x7b;
        return { bytes: Buffer.concat([prefix, rest]), mustReject: false };
      }),
    // one flipped bit, the commonest damage on disk: wherever it is, header included, it must be caught
    fc.record({ at: arbPosition, bit: fc.nat(7) }).map(({ at, bit }) => {
      const bytes = Buffer.from(valid);
      bytes[at % bytes.length] ^= 1 << bit;
      return { bytes, mustReject: true };
    }),
    fc.tuple(arbMutations(format.sizeFields), fc.boolean()).map(([ms, resealed]) => {
      const mutated = mutate(valid, ms, true);
      const bytes = resealed ? reseal(mutated) : mutated;
      return { bytes, mustReject: !resealed && !bytes.equals(valid) };
    }),
    // resealed float32 writes into the payload: finite values load, NaN and ±Inf are reported by tensor
    fc
      .array(
        fc.record({
          at: arbPosition,
          value: fc.oneof(fc.constantFrom(0x7f800000, 0xff800000, 0x7fc00000, 0xffffffff), fc.nat()),
        }),
        { minLength: 1, maxLength: 3 },
      )
      .map((writes) => {
        const bytes = Buffer.from(valid);
        const floats = (bytes.length - format.payloadStart) / 4;
        for (const w of writes) bytes.writeUInt32LE(w.value, format.payloadStart + 4 * (w.at % floats));
        return { bytes: reseal(bytes), mustReject: false };
      }),
    fc
      .tuple(fc.nat(), fc.nat(), hostile)
      .map(([t, field, value]) => ({ bytes: format.withTensorField(t, field, value), mustReject: false })),
  );

  it(
    'returns a finite checkpoint or a Left of a known kind naming the file, and rejects every unsealed change',
    () => {
      fc.assert(
        fc.property(arbInput, ({ bytes, mustReject }) => {
          const before = arrayBufferBytes();
          const r = decodeCheckpoint(bytes, 'fuzz.ckpt');
          expect(arrayBufferBytes() - before).toBeLessThan(MAX_GROWTH_BYTES);
          if (E.isLeft(r)) {
            expect(KNOWN_KINDS).toContain(r.left.kind);
            expect(r.left.path).toBe('fuzz.ckpt');
            expect(r.left.message).toMatch(/^checkpoint fuzz\.ckpt [^\u0000-\u001f\u007f-\u009f]+$/);
            return;
          }
          expect(mustReject).toBe(false);
          for (const t of Object.values(r.right.tensors)) {
            expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
            expect(t.data.every(Number.isFinite)).toBe(true);
          }
        }),
        RUNS,
      );
    },
    TIMEOUT_MS,
  );

  it('loads the unmutated file', () => {
    expect(E.isRight(decodeCheckpoint(valid, 'fuzz.ckpt'))).toBe(true);
  });
});
