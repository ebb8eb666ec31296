// Image data sets in memory, with no file system: pixel conversion (binarisation), slices and seeded
// batching, so the same code runs in Node and in a page. Files are read in mnist.ts and idx.ts.
// DRAW models pixels as Bernoulli variables, so images are normally binarised; how is an explicit
// choice because it changes the reported likelihoods (the literature mostly uses a fixed stochastic
// binarisation, which 'sample' reproduces deterministically from a seed).
import { fillUniform, type RngState } from '../dsl/rng.ts';
import { valuesPerImage, type ImageSource } from './source.ts';

/**
 * - 'sample': each pixel is 1 with probability pixel/255, drawn once from a fixed seed (default).
 * - 'threshold': pixel > 127.
 * - 'resample': images stay grey; call `binariseBatch` for fresh draws every epoch.
 * - 'grey': pixel/255, never binarised.
 */
export type Binarisation = 'sample' | 'threshold' | 'resample' | 'grey';

/**
 * Stored pixels, image-major, row-major within an image: a Float32Array holds values in [0, 1]; a
 * Uint8Array holds bytes, b standing for b/255 (a quarter of the memory: the loaders store bytes, so
 * MNIST's 70,000 images take 55 MB rather than 220). Batches are always floats (gatherBatch).
 */
export type Pixels = Float32Array | Uint8Array;

/** What one stored unit of `p` is worth: 1/255 for bytes, 1 for floats. */
const unitOf = (p: Pixels): number => (p instanceof Uint8Array ? 1 / 255 : 1);

/**
 * The float value of stored pixel i (float32, as a batch holds it). A byte b gives fround(b · (1/255)),
 * exactly the float the loaders stored before they stored bytes, so batches did not change.
 */
export const pixelAt = (p: Pixels, i: number): number =>
  p instanceof Uint8Array ? Math.fround(p[i] * (1 / 255)) : p[i];

/** n bytes from src[from] as the floats b/255 into out[to]: what a grey pixel is, stored or batched. */
const bytesToFloats = (src: Uint8Array, from: number, out: Float32Array, to: number, n: number): Float32Array => {
  for (let j = 0; j < n; j++) out[to + j] = src[from + j] * (1 / 255);
  return out;
};

/** Stored pixels as floats in [0, 1] (a copy). */
export const pixelValues = (p: Pixels): Float32Array =>
  p instanceof Uint8Array ? bytesToFloats(p, 0, new Float32Array(p.length), 0, p.length) : p.slice();

export interface Dataset {
  /** n*rows*cols pixels (see Pixels). */
  readonly images: Pixels;
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

export const DEFAULT_BINARISATION_SEED = 123;

// Uniform draws are made in chunks so binarising 60k images never needs a 47M-entry scratch array.
const CHUNK = 1 << 18;

/**
 * Convert raw bytes to pixels according to `mode` (floats in [0, 1], or into a Uint8Array the same
 * values as bytes: 0/255 when binarised); returns the advanced RNG state.
 */
export const convertPixels = <P extends Pixels = Float32Array>(
  raw: Uint8Array,
  mode: Binarisation,
  rng: RngState,
  out: P = new Float32Array(raw.length) as P,
): [P, RngState] => {
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

// One small loop per mode: V8 optimises these far better than one loop inside a switch. A
// binarised pixel's "on" is 1 in floats, 255 in bytes.
const toGrey = <P extends Pixels>(raw: Uint8Array, out: P): P => {
  if (out instanceof Uint8Array) {
    out.set(raw);
    return out;
  }
  return bytesToFloats(raw, 0, out, 0, raw.length) as P;
};

const toThreshold = <P extends Pixels>(raw: Uint8Array, out: P): P => {
  const n = raw.length,
    on = 1 / unitOf(out);
  for (let i = 0; i < n; i++) out[i] = raw[i] > 127 ? on : 0;
  return out;
};

// Pixels at 0 or 255 are certain, so only the grey ones consume draws (about a fifth of MNIST):
// this keeps loading fast, and the result is still a pure function of (bytes, seed).
const sampleBernoulli = <P extends Pixels>(raw: Uint8Array, rng: RngState, out: P): [P, RngState] => {
  const u = new Float64Array(Math.min(CHUNK, raw.length));
  const on = 1 / unitOf(out);
  let state = rng;
  for (let start = 0; start < raw.length; start += u.length) {
    const end = Math.min(start + u.length, raw.length);
    let needed = 0;
    for (let i = start; i < end; i++) if (raw[i] !== 0 && raw[i] !== 255) needed++;
    if (needed > 0) state = fillUniform(state, u.subarray(0, needed));
    let k = 0;
    for (let i = start; i < end; i++) {
      const v = raw[i];
      out[i] = v === 0 ? 0 : v === 255 ? on : u[k++] < v * (1 / 255) ? on : 0;
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

/** Throws for a binarisation mode that is not one of the four. */
export const checkMode = (mode: Binarisation): void => {
  if (!['sample', 'threshold', 'resample', 'grey'].includes(mode)) {
    throw new Error(`unknown binarisation mode ${JSON.stringify(mode)}; use sample, threshold, resample or grey`);
  }
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

/**
 * A seeded permutation of 0..n-1 cut into floor(n / batchSize) batches; the remainder is dropped so
 * every batch has the same shape. Call once per epoch with the returned state.
 */
export const shuffledBatches = (n: number, batchSize: number, rng: RngState): [Int32Array[], RngState] => {
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
    throw new Error(
      `gatherBatch: output has ${out.length} entries, need ${indices.length}×${px} = ${indices.length * px}`,
    );
  }
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < ds.n))
      throw new Error(`gatherBatch: index ${i} is outside 0..${ds.n - 1}`);
    if ('render' in ds) ds.render(i, out, k * px);
    else if (ds.images instanceof Uint8Array) bytesToFloats(ds.images, i * px, out, k * px, px);
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
    if (!(Number.isInteger(i) && i >= 0 && i < ds.n))
      throw new Error(`gatherLabels: index ${i} is outside 0..${ds.n - 1}`);
    out[k] = ds.labels[i];
  }
  return out;
};
