// The DRAW paper's other data sets, synthesised from MNIST digits (paper §4.1–4.3):
// - cluttered translated MNIST (as in RAM, Mnih et al. 2014): one digit at a random place on a
//   100×100 canvas with 8 clutter pieces, each a random 8×8 crop of another digit at a random place;
// - two-digit MNIST: two random digits at random, possibly overlapping, places on a 60×60 canvas;
// - coloured MNIST (SVHN and CIFAR-10 cannot be fetched here): a digit tinted with a random colour.
// Every image is a pure function of (seed, split, index): its random draws come from streamFor, so a
// set is the same every time, any image can be drawn alone, and nothing needs caching (drawing 100
// cluttered images takes about a millisecond). Pieces combine with max, so values stay in [0, 1].
// Pure: no Node built-ins; the digits come from whatever loaded them (mnist.ts).
import { fillUniform, streamFor } from '../dsl/rng.ts';
import type { ImageSource } from './source.ts';
import { pixelAt, type Pixels } from './images.ts';

/** Grey digits to build from: n images of rows×cols in [0, 1], one label each. */
export interface Digits {
  readonly images: Pixels;
  readonly labels: Uint8Array;
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
}

/** One piece pasted onto a canvas: the rows×cols crop at (cropX, cropY) of digit `index`, its top-left at (x, y). */
export interface Piece {
  readonly index: number;
  readonly cropX: number;
  readonly cropY: number;
  readonly width: number;
  readonly height: number;
  readonly x: number;
  readonly y: number;
}

export type SyntheticKind = 'cluttered' | 'two-digit' | 'colour';
export type Split = 'train' | 'validation' | 'test';
/** How two-digit canvases become pixels, as for the single-digit data (see Binarisation in mnist.ts). */
export type CanvasBinarisation = 'sample' | 'threshold' | 'resample' | 'grey';

export interface SyntheticOptions {
  readonly seed?: number;
  readonly split?: Split;
  /** Images in the set (default: as many as there are digits). */
  readonly n?: number;
}

export const CLUTTERED = { size: 100, pieces: 8, piece: 8 } as const;
export const TWO_DIGIT = { size: 60 } as const;
export const DEFAULT_SYNTHETIC_SEED = 2015;

// Distinct purposes per kind and split, so no two sets share a stream.
const KIND = { cluttered: 1, 'two-digit': 2, colour: 3 } as const;
const SPLIT = { train: 0, validation: 1, test: 2 } as const;
const purpose = (kind: SyntheticKind, split: Split, sub = 0): number =>
  0x5e7000 + KIND[kind] * 64 + SPLIT[split] * 8 + sub;

/** A stream of uniform integers for image i: `int(k)` is uniform in 0..k. */
const drawsFor = (
  seed: number,
  i: number,
  p: number,
  count: number,
): { int: (k: number) => number; unit: () => number } => {
  const u = new Float64Array(count);
  fillUniform(streamFor(seed, i, p), u);
  let next = 0;
  const unit = () => {
    if (next >= u.length) throw new Error(`synthetic: image ${i} used more than its ${count} draws`);
    return u[next++];
  };
  return { unit, int: (k) => Math.floor(unit() * (k + 1)) };
};

const checkDigits = (d: Digits, atLeast: number): void => {
  if (d.n < atLeast) throw new RangeError(`synthetic data: need at least ${atLeast} digits, got ${d.n}`);
  if (d.images.length !== d.n * d.rows * d.cols)
    throw new RangeError(
      `synthetic data: ${d.n} digits of ${d.rows}×${d.cols} need ${d.n * d.rows * d.cols} values, got ${d.images.length}`,
    );
};

const countOf = (o: SyntheticOptions, d: Digits): number => {
  const n = o.n ?? d.n;
  if (!(Number.isSafeInteger(n) && n > 0))
    throw new RangeError(`synthetic data: n must be a positive integer, got ${n}`);
  return n;
};

/** Pastes a piece, its values scaled by `tint`, onto the size×size plane at `offset`, keeping the larger value at each pixel. */
const paste = (d: Digits, p: Piece, out: Float32Array, offset: number, size: number, tint = 1): void => {
  for (let r = 0; r < p.height; r++) {
    const src = p.index * d.rows * d.cols + (p.cropY + r) * d.cols + p.cropX;
    const dst = offset + (p.y + r) * size + p.x;
    for (let c = 0; c < p.width; c++) {
      const v = pixelAt(d.images, src + c) * tint;
      if (v > out[dst + c]) out[dst + c] = v;
    }
  }
};

const wholeDigit = (d: Digits, index: number, x: number, y: number): Piece => ({
  index,
  cropX: 0,
  cropY: 0,
  width: d.cols,
  height: d.rows,
  x,
  y,
});

/** Where image i's digit and clutter go: the digit is `digits[i mod n]`, wholly inside the canvas. */
export const clutteredLayout = (
  d: Digits,
  seed: number,
  split: Split,
  i: number,
): { digit: Piece; clutter: Piece[] } => {
  const { size, pieces, piece } = CLUTTERED;
  const r = drawsFor(seed, i, purpose('cluttered', split), 2 + 5 * pieces);
  const index = i % d.n;
  const digit = wholeDigit(d, index, r.int(size - d.cols), r.int(size - d.rows));
  const clutter = Array.from({ length: pieces }, () => {
    const other = r.int(d.n - 2); // another digit: 0..n−2, skipping the digit itself
    return {
      index: other >= index ? other + 1 : other,
      cropX: r.int(d.cols - piece),
      cropY: r.int(d.rows - piece),
      width: piece,
      height: piece,
      x: r.int(size - piece),
      y: r.int(size - piece),
    };
  });
  return { digit, clutter };
};

/**
 * Cluttered translated MNIST, 100×100 grey: image i holds digit i mod n (its label) at a uniformly
 * random place and 8 random 8×8 crops of other digits of the same split at random places.
 */
export const cluttered = (d: Digits, o: SyntheticOptions = {}): ImageSource => {
  checkDigits(d, 2);
  const n = countOf(o, d);
  const seed = o.seed ?? DEFAULT_SYNTHETIC_SEED;
  const split = o.split ?? 'train';
  const { size } = CLUTTERED;
  return {
    n,
    rows: size,
    cols: size,
    labels: Uint8Array.from({ length: n }, (_, i) => d.labels[i % d.n]),
    render: (i, out, offset) => {
      const { digit, clutter } = clutteredLayout(d, seed, split, i);
      out.fill(0, offset, offset + size * size);
      clutter.forEach((p) => paste(d, p, out, offset, size));
      paste(d, digit, out, offset, size);
    },
  };
};

/** Image i's two digits: any two of the split (the same one twice is allowed), anywhere wholly inside the canvas. */
export const twoDigitLayout = (d: Digits, seed: number, split: Split, i: number): [Piece, Piece] => {
  const { size } = TWO_DIGIT;
  const r = drawsFor(seed, i, purpose('two-digit', split), 6);
  const one = () => {
    const index = r.int(d.n - 1);
    return wholeDigit(d, index, r.int(size - d.cols), r.int(size - d.rows));
  };
  return [one(), one()];
};

/**
 * Two-digit MNIST, 60×60: two random digits at random places, combined with max, then binarised like
 * the single-digit data ('sample': each pixel 1 with probability its value, drawn once from the
 * image's own stream; 'threshold': value > 0.5; 'grey' and 'resample' keep the grey values). The
 * label is 10·first + second.
 */
export const twoDigit = (
  d: Digits,
  o: SyntheticOptions & { readonly binarisation?: CanvasBinarisation } = {},
): ImageSource => {
  checkDigits(d, 1);
  const n = countOf(o, d);
  const seed = o.seed ?? DEFAULT_SYNTHETIC_SEED;
  const split = o.split ?? 'train';
  const mode = o.binarisation ?? 'sample';
  const { size } = TWO_DIGIT;
  const px = size * size;
  const u = new Float64Array(px);
  const layouts = (i: number) => twoDigitLayout(d, seed, split, i);
  return {
    n,
    rows: size,
    cols: size,
    labels: Uint8Array.from({ length: n }, (_, i) => layouts(i).reduce((l, p) => 10 * l + d.labels[p.index], 0)),
    render: (i, out, offset) => {
      out.fill(0, offset, offset + px);
      layouts(i).forEach((p) => paste(d, p, out, offset, size));
      if (mode === 'sample') fillUniform(streamFor(seed, i, purpose('two-digit', split, 1)), u);
      if (mode === 'sample' || mode === 'threshold')
        for (let k = 0; k < px; k++)
          out[offset + k] = (mode === 'sample' ? u[k] < out[offset + k] : out[offset + k] > 0.5) ? 1 : 0;
    },
  };
};

/** Image i's colour: three uniform draws scaled so the brightest channel is 1 (no digit is drawn near-black). */
export const colourOf = (seed: number, split: Split, i: number): [number, number, number] => {
  const r = drawsFor(seed, i, purpose('colour', split), 3);
  const rgb = [r.unit(), r.unit(), r.unit()];
  const top = Math.max(...rgb, 1e-3);
  return rgb.map((v) => v / top) as [number, number, number];
};

/**
 * Coloured MNIST: digit i mod n (its label), each of 3 channels its grey values times the image's
 * random colour, on black; channel-major (red plane, green plane, blue plane), grey values kept.
 */
export const colourDigits = (d: Digits, o: SyntheticOptions = {}): ImageSource => {
  checkDigits(d, 1);
  const n = countOf(o, d);
  const seed = o.seed ?? DEFAULT_SYNTHETIC_SEED;
  const split = o.split ?? 'train';
  const px = d.rows * d.cols;
  return {
    n,
    rows: d.rows,
    cols: d.cols,
    channels: 3,
    labels: Uint8Array.from({ length: n }, (_, i) => d.labels[i % d.n]),
    render: (i, out, offset) => {
      const rgb = colourOf(seed, split, i);
      const digit = wholeDigit(d, i % d.n, 0, 0);
      out.fill(0, offset, offset + 3 * px);
      rgb.forEach((tint, k) => paste(d, digit, out, offset + k * px, d.cols, tint));
    },
  };
};
