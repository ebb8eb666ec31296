// Random and mutated bytes into the readers of files a user hands us: the IDX reader and the
// checkpoint reader. They may only return a value or report the problem as their own named error
// (IdxError; a checkpoint Left with a known kind) — never another exception, which would be a crash
// or an allocation sized from an unchecked header (a RangeError).
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { gzipSync } from 'node:zlib';
import { parseIdx, IdxError } from '../src/data/idx.ts';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointErrorKind } from '../src/io/checkpoint.ts';
import { encodeV1 } from './checkpoint-v1.ts';

const runs = { numRuns: 300, seed: 20261201 };

const idxFile = (dims: number[]): Uint8Array => {
  const b = Buffer.alloc(4 + 4 * dims.length + dims.reduce((a, d) => a * d, 1));
  b.writeUInt32BE(0x800 | dims.length, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  for (let i = 4 + 4 * dims.length; i < b.length; i++) b[i] = (i * 31) & 0xff;
  return b;
};

/** A valid file, then one of: a bit flip, a cut, an insertion, a u32 field overwritten (often with a huge value). */
const mutated = (valid: readonly Uint8Array[]) => fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 7 })).map(([b, at, bit]) => {
    const c = Uint8Array.from(b);
    c[at % c.length] ^= 1 << bit;
    return c;
  }),
  fc.tuple(fc.constantFrom(...valid), fc.nat()).map(([b, n]) => b.subarray(0, n % b.length)),
  fc.tuple(fc.constantFrom(...valid), fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([b, at, ins]) =>
    Uint8Array.from([...b.subarray(0, at % b.length), ...ins, ...b.subarray(at % b.length)])),
  fc.tuple(fc.constantFrom(...valid), fc.integer({ min: 0, max: 15 }), fc.constantFrom(0xffffffff, 0x7fffffff, 0x10000, 0, 1), fc.boolean())
    .map(([b, field, v, big]) => {
      const c = Buffer.from(Uint8Array.from(b));
      if (4 * field + 4 <= c.length) (big ? c.writeUInt32BE(v, 4 * field) : c.writeUInt32LE(v, 4 * field));
      return new Uint8Array(c);
    }),
);

describe('the IDX reader on random and mutated bytes', () => {
  const valid = [idxFile([3, 4, 5]), idxFile([7]), gzipSync(idxFile([2, 3, 3]))];
  it('returns an array whose size agrees with its bytes, or throws an IdxError', () => {
    fc.assert(fc.property(mutated(valid), (bytes) => {
      try {
        const r = parseIdx(bytes, 'fuzz.idx');
        return r.data.length === r.dims.reduce((a, d) => a * d, 1);
      } catch (e) {
        if (!(e instanceof IdxError)) throw e;
        return e.message.startsWith('fuzz.idx: ') && !e.message.includes('\n');
      }
    }), runs);
  }, 60_000);
});

describe('the checkpoint reader on random and mutated bytes', () => {
  const tensors = { w: { shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) }, b: { shape: [2], data: new Float32Array([1, -1]) } };
  const valid = [encodeCheckpoint({ meta: { config: { T: 3 }, step: 5 }, tensors }), encodeV1({ meta: { step: 1 }, tensors })];
  const kinds: CheckpointErrorKind[] = ['missing', 'unreadable', 'bad-magic', 'unsupported-version', 'truncated', 'bad-header', 'corrupt', 'non-finite'];
  it('returns the checkpoint, or a Left of a known kind that names the file, and never throws', () => {
    fc.assert(fc.property(mutated(valid), (bytes) => {
      const r = decodeCheckpoint(bytes, 'fuzz.bin');
      if (E.isRight(r)) return Object.values(r.right.tensors).every((t) => t.data.every(Number.isFinite));
      return kinds.includes(r.left.kind) && r.left.message.startsWith('checkpoint fuzz.bin ');
    }), runs);
  }, 60_000);

  it('does not allocate from a header length it has not checked', () => {
    const b = Buffer.from(valid[0]);
    b.writeUInt32LE(0xffffffff, 12);
    const r = decodeCheckpoint(b, 'huge.bin');
    expect(E.isLeft(r) && r.left.kind).toBe('truncated');
  });
});
