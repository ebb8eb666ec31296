import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { seedRng } from '../src/dsl/rng.ts';
import { readIdx } from '../src/data/idx.ts';
import { loadIdxDataset, loadMnist, mnistFiles, MNIST_VALIDATION_SIZE } from '../src/data/mnist.ts';
import {
  binariseBatch,
  gatherBatch,
  gatherLabels,
  pixelValues,
  shuffledBatches,
  type Pixels,
} from '../src/data/images.ts';
import { expectIdxError, idxBytes } from './idx-helpers.ts';

const files = mnistFiles();
/** A data set's pixels as floats in [0, 1] (the loaders store bytes). */
const px = (ds: { readonly images: Pixels }): Float32Array => pixelValues(ds.images);
const mean = (a: Float32Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};
const onlyZeroOne = (a: Float32Array): boolean => {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0 && a[i] !== 1) return false;
  return true;
};
const sameBytes = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('loadMnist splits', () => {
  const t0 = performance.now();
  const splits = loadMnist();
  const ms = performance.now() - t0;

  it('has 50k/10k/10k images of 28×28 with matching labels', () => {
    console.log(`loadMnist (sample binarisation, 70k images): ${ms.toFixed(0)} ms`);
    for (const [ds, n] of [
      [splits.train, 50000],
      [splits.validation, 10000],
      [splits.test, 10000],
    ] as const) {
      expect(ds.n).toBe(n);
      expect(ds.rows).toBe(28);
      expect(ds.cols).toBe(28);
      expect(ds.images.length).toBe(n * 784);
      expect(ds.labels.length).toBe(n);
      expect(ds.binarisation).toBe('sample');
    }
  });

  it('takes validation from the end of the training file and test from t10k', () => {
    const trainLabels = readIdx(files.trainLabels, 'labels').data;
    expect(Array.from(splits.train.labels.subarray(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(Buffer.from(splits.validation.labels).equals(Buffer.from(trainLabels.subarray(50000)))).toBe(true);
    expect(Array.from(splits.test.labels.subarray(0, 3))).toEqual([7, 2, 1]);
  });

  it('stores bytes, a quarter of the memory of floats, and batches the floats they stand for', () => {
    for (const ds of [splits.train, splits.validation, splits.test]) expect(ds.images).toBeInstanceOf(Uint8Array);
    const grey = loadMnist({ binarisation: 'grey', limit: 50 }).test;
    const raw = readIdx(files.testImages, 'images').data.subarray(0, 50 * 784);
    const batch = gatherBatch(
      grey,
      Array.from({ length: 50 }, (_, i) => i),
    );
    // the float each byte stands for is the float32 of b/255, as the loaders stored before
    expect(batch).toEqual(Float32Array.from(raw, (b) => b / 255));
    expect(px(grey)).toEqual(batch);
  });

  it('binarises to 0/1 only', () => {
    expect(onlyZeroOne(px(splits.train))).toBe(true);
    expect(onlyZeroOne(px(splits.test))).toBe(true);
  });

  it('respects limit per split', () => {
    const small = loadMnist({ limit: 100, binarisation: 'threshold' });
    expect([small.train.n, small.validation.n, small.test.n]).toEqual([100, 100, 100]);
    expect(small.validation.labels[0]).toBe(splits.validation.labels[0]);
    // same seed and mode: a limited split is a prefix of the full one
    const lim = loadMnist({ binarisation: 'sample', limit: 100 });
    expect(sameBytes(px(lim.validation), px(splits.validation).subarray(0, 100 * 784))).toBe(true);
    expect(sameBytes(px(lim.test), px(splits.test).subarray(0, 100 * 784))).toBe(true);
    expect(small.train.images.length).toBe(100 * 784);
  });
});

describe('binarisation modes', () => {
  const load = (opts: Parameters<typeof loadIdxDataset>[2]) => loadIdxDataset(files.testImages, files.testLabels, opts);
  const grey = load({ binarisation: 'grey' });

  it("'sample' is deterministic for a seed and differs for another seed", () => {
    const a = load({ seed: 1, limit: 2000 });
    const b = load({ seed: 1, limit: 2000 });
    const c = load({ seed: 2, limit: 2000 });
    expect(sameBytes(px(a), px(b))).toBe(true);
    let diff = 0;
    const [va, vc] = [px(a), px(c)];
    for (let i = 0; i < va.length; i++) diff += va[i] !== vc[i] ? 1 : 0;
    expect(diff).toBeGreaterThan(1000);
  });

  it("'sample' with limit gives a prefix of the full draw", () => {
    const a = load({ seed: 5, limit: 300 });
    const b = load({ seed: 5, limit: 600 });
    expect(sameBytes(px(a), px(b).subarray(0, 300 * 784))).toBe(true);
  });

  it('binarised mean matches grey mean within 0.005', () => {
    const s = load({ seed: 9 });
    const [vs, vg] = [px(s), px(grey)];
    expect(onlyZeroOne(vs)).toBe(true);
    expect(Math.abs(mean(vs) - mean(vg))).toBeLessThan(0.005);
    // and pixel-wise: certain pixels stay certain
    let flipped = 0;
    for (let i = 0; i < vs.length; i++) {
      if ((vg[i] === 0 && vs[i] !== 0) || (vg[i] === 1 && vs[i] !== 1)) flipped++;
    }
    expect(flipped).toBe(0);
  });

  it("'grey' is pixel/255 and 'threshold' is pixel > 127", () => {
    const raw = readIdx(files.testImages, 'images').data;
    const thr = load({ binarisation: 'threshold', limit: 200 });
    const [vg, vt] = [px(grey), px(thr)];
    let greyBad = 0;
    let thrBad = 0;
    for (let i = 0; i < 200 * 784; i++) {
      if (Math.abs(vg[i] - raw[i] / 255) > 1e-6) greyBad++;
      if (vt[i] !== (raw[i] > 127 ? 1 : 0)) thrBad++;
    }
    expect([greyBad, thrBad]).toEqual([0, 0]);
    expect(mean(vt)).toBeGreaterThan(0.05); // not trivially all zeros
  });

  it("'resample' keeps grey values and binariseBatch draws fresh, seeded samples", () => {
    const r = load({ binarisation: 'resample', limit: 500 });
    expect(sameBytes(px(r), px(grey).subarray(0, 500 * 784))).toBe(true);
    const batch = gatherBatch(
      r,
      Array.from({ length: 500 }, (_, i) => i),
    );
    const s0 = seedRng(3);
    const [b1, s1] = binariseBatch(batch, s0);
    const [b1again] = binariseBatch(batch, s0);
    const [b2] = binariseBatch(batch, s1);
    expect(onlyZeroOne(b1)).toBe(true);
    expect(sameBytes(b1, b1again)).toBe(true);
    expect(sameBytes(b1, b2)).toBe(false);
    expect(Math.abs(mean(b1) - mean(batch))).toBeLessThan(0.005);
  });

  it('rejects an unknown mode by name', () => {
    expect(() => load({ binarisation: 'otsu' as never })).toThrow(/unknown binarisation mode "otsu"/);
  });
});

describe('batching', () => {
  it('covers every index at most once per epoch, drops the remainder, reshuffles next epoch', () => {
    const [epoch1, s1] = shuffledBatches(1000, 64, seedRng(7));
    expect(epoch1.length).toBe(15);
    const seen = new Set<number>();
    for (const b of epoch1) {
      expect(b.length).toBe(64);
      for (const i of b) seen.add(i);
    }
    expect(seen.size).toBe(960);
    expect([...seen].every((i) => i >= 0 && i < 1000)).toBe(true);
    const [epoch2] = shuffledBatches(1000, 64, s1);
    expect(Array.from(epoch2[0])).not.toEqual(Array.from(epoch1[0]));
  });

  it('is an exact permutation when batchSize divides n, and seeded', () => {
    const [bs] = shuffledBatches(100, 10, seedRng(1));
    const all = bs.flatMap((b) => Array.from(b)).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const [again] = shuffledBatches(100, 10, seedRng(1));
    expect(again.map((b) => Array.from(b))).toEqual(bs.map((b) => Array.from(b)));
    expect(Array.from(bs[0])).not.toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('gatherBatch copies the requested images into a reusable buffer', () => {
    const ds = loadIdxDataset(files.testImages, files.testLabels, { binarisation: 'grey', limit: 20 });
    const out = new Float32Array(3 * 784);
    const res = gatherBatch(ds, [7, 0, 19], out);
    expect(res).toBe(out);
    expect(Array.from(out.subarray(784, 2 * 784))).toEqual(Array.from(px(ds).subarray(0, 784)));
    expect(Array.from(out.subarray(0, 784))).toEqual(Array.from(px(ds).subarray(7 * 784, 8 * 784)));
    expect(Array.from(gatherLabels(ds, [0, 1, 2]))).toEqual([7, 2, 1]);
    expect(() => gatherBatch(ds, [20])).toThrow(/index 20 is outside 0..19/);
    expect(() => gatherBatch(ds, [0, 1], out)).toThrow(/output has 2352 entries, need 2×784/);
  });
});

describe('unusable image/label pairs throw an IdxError naming the files', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dataset-test-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const fileWith = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  const twoImages = fileWith('two-images', idxBytes([2, 1, 2], [0, 255, 255, 0]));

  it('label count ≠ image count', () => {
    const labels = fileWith('three-labels', idxBytes([3], [1, 2, 3]));
    const load = () => loadIdxDataset(twoImages, labels);
    expectIdxError(load, `${labels}: has 3 labels but ${twoImages} has 2 images`);
  });

  it('an images file holding 0 images', () => {
    const none = fileWith('no-images', idxBytes([0, 28, 28]));
    expectIdxError(() => loadIdxDataset(none), `${none}: holds 0 images`);
  });

  it('test images of another size than the training images', () => {
    const dir = join(tmp, 'mixed-sizes');
    mkdirSync(dir);
    const f = mnistFiles(dir);
    const nTrain = MNIST_VALIDATION_SIZE + 1; // the fewest that leave a training split
    writeFileSync(f.trainImages, idxBytes([nTrain, 1, 1], new Uint8Array(nTrain)));
    writeFileSync(f.trainLabels, idxBytes([nTrain], new Uint8Array(nTrain)));
    writeFileSync(f.testImages, idxBytes([1, 2, 2], [0, 0, 0, 0]));
    writeFileSync(f.testLabels, idxBytes([1], [0]));
    expectIdxError(() => loadMnist({}, dir), `${f.testImages}: images are 2×2 but ${f.trainImages} has 1×1`);
  });

  it('images of 0 pixels', () => {
    const flat = fileWith('flat-images', idxBytes([5, 0, 28]));
    expectIdxError(() => loadIdxDataset(flat), `${flat}: images are 0×28 pixels; need at least 1×1`);
  });
});
