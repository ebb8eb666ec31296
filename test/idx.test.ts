import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIdx, readIdx } from '../src/data/idx.ts';
import { mnistFiles } from '../src/data/mnist.ts';
import { expectIdxError, idxBytes } from './idx-helpers.ts';

const files = mnistFiles();
const tmp = mkdtempSync(join(tmpdir(), 'idx-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('readIdx on the real MNIST files', () => {
  it('reads image and label counts and shapes', () => {
    const train = readIdx(files.trainImages, 'images');
    expect(train.dims).toEqual([60000, 28, 28]);
    expect(train.data.length).toBe(60000 * 28 * 28);
    const test = readIdx(files.testImages, 'images');
    expect(test.dims).toEqual([10000, 28, 28]);
    expect(readIdx(files.testLabels, 'labels').dims).toEqual([10000]);
  });

  it('has the well-known first training labels and magic numbers', () => {
    const labels = readIdx(files.trainLabels, 'labels');
    expect(Array.from(labels.data.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(readFileSync(files.trainImages).readUInt32BE(0)).toBe(2051);
    expect(readFileSync(files.trainLabels).readUInt32BE(0)).toBe(2049);
  });

  it('refuses a labels file where images are expected', () => {
    expect(() => readIdx(files.testLabels, 'images')).toThrow(
      /t10k-labels-idx1-ubyte: expected images .*magic is 2049/,
    );
  });
});

describe('readIdx error reporting', () => {
  it('names the file and both sizes when truncated', () => {
    const p = join(tmp, 'train-images-idx3-ubyte');
    writeFileSync(p, readFileSync(files.trainImages).subarray(0, 1000));
    expect(() => readIdx(p, 'images')).toThrow(
      'train-images-idx3-ubyte: truncated, header says 60000×28×28 = 47040016 bytes but file has 1000',
    );
  });

  it('rejects a file with the wrong magic', () => {
    const p = join(tmp, 'bogus.bin');
    writeFileSync(p, Buffer.from('PK\x03\x04 not an idx file at all'));
    expect(() => readIdx(p)).toThrow(/bogus\.bin: not an IDX file \(bad magic 0x504b0304/);
  });

  it('rejects unsupported element types by name', () => {
    const b = Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    expect(() => parseIdx(b, 'floats.idx')).toThrow(/floats\.idx: unsupported IDX element type 0xd \(float\)/);
  });

  it('reports a missing file', () => {
    expect(() => readIdx(join(tmp, 'nope'))).toThrow(/nope: IDX file is missing/);
  });

  it('flags trailing bytes', () => {
    const b = Buffer.from([0, 0, 8, 1, 0, 0, 0, 2, 7, 9, 1]);
    expect(() => parseIdx(b, 'x')).toThrow('x: has trailing bytes, header says 2 = 10 bytes but file has 11');
  });
});

describe('malformed IDX files throw an IdxError naming the file', () => {
  const fileWith = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  const cases: [string, Uint8Array, (p: string) => string][] = [
    ['empty', Buffer.alloc(0), (p) => `${p}: too short to be an IDX file (0 bytes)`],
    [
      'truncated-header',
      idxBytes([2, 2, 2]).subarray(0, 10),
      (p) => `${p}: truncated header, 3 dims need 16 bytes but file has 10`,
    ],
    [
      'truncated-payload',
      idxBytes([2, 2, 2], [1, 2, 3, 4, 5]),
      (p) => `${p}: truncated, header says 2×2×2 = 24 bytes but file has 21`,
    ],
    [
      'bad-magic',
      Buffer.from('GIF89a and so on'),
      (p) => `${p}: not an IDX file (bad magic 0x47494638, first two bytes must be zero)`,
    ],
    ['four-d', idxBytes([1, 1, 1, 1], [9]), (p) => `${p}: expected images (magic 2051, 3-D) but magic is 2052 (4-D)`],
  ];
  for (const [name, bytes, message] of cases) {
    it(name, () => {
      const p = fileWith(name, bytes);
      expectIdxError(() => readIdx(p, 'images'), message(p));
    });
  }

  it('refuses dims whose product is past 2^53 (so inexact) as truncated', () => {
    const huge = idxBytes([0xffffffff, 0xffffffff, 0xffffffff], [1, 2, 3]);
    expectIdxError(
      () => parseIdx(huge, 'huge', 'images'),
      /^huge: truncated, header says 4294967295×4294967295×4294967295 = .* bytes but file has 19$/,
    );
  });
});

describe('gzipped IDX', () => {
  it('stops inflating a gzip bomb at the limit', () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024)); // 64 KiB of zeros packs into ~100 bytes
    expectIdxError(
      () => parseIdx(bomb, 'bomb.gz', 'any', 4096),
      'bomb.gz: inflates to more than 4096 bytes, the limit for a gzipped IDX file',
    );
  });

  it('round-trips a gzipped labels file transparently', () => {
    const raw = readFileSync(files.testLabels);
    const p = join(tmp, 't10k-labels-idx1-ubyte.gz');
    writeFileSync(p, gzipSync(raw));
    const gz = readIdx(p, 'labels');
    const plain = readIdx(files.testLabels, 'labels');
    expect(gz.dims).toEqual([10000]);
    expect(Buffer.from(gz.data).equals(Buffer.from(plain.data))).toBe(true);
  });

  it('checks sizes after inflating', () => {
    const b = gzipSync(Buffer.from([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]));
    expect(() => parseIdx(b, 'small.gz')).toThrow('small.gz: truncated, header says 5 = 13 bytes but file has 10');
  });

  it('reports a corrupt gzip stream', () => {
    const b = gzipSync(Buffer.alloc(100));
    expect(() => parseIdx(b.subarray(0, 20), 'broken.gz')).toThrow(/broken\.gz: looks gzipped but does not inflate/);
  });
});
