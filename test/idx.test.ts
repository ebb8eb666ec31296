import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIdx, readIdx } from '../src/data/idx.ts';
import { mnistFiles } from '../src/data/mnist.ts';

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
    expect(() => readIdx(files.testLabels, 'images')).toThrow(/t10k-labels-idx1-ubyte: expected images .*magic is 2049/);
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

describe('gzipped IDX', () => {
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
