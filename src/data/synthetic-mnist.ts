// The synthetic data sets' train, validation and test splits, each built from the MNIST split of the
// same name (50k / 10k held out / t10k), so no test digit, not even as clutter, is seen in training.
import { loadMnist, type MnistSplits } from './mnist.ts';
import { cluttered, colourDigits, twoDigit, type CanvasBinarisation, type SyntheticKind } from './synthetic.ts';
import type { ImageSource } from './source.ts';

export interface SyntheticSplits {
  readonly train: ImageSource;
  readonly validation: ImageSource;
  readonly test: ImageSource;
}

export interface SyntheticLoadOptions {
  readonly seed?: number;
  /** Two-digit canvases only (the others keep grey values). */
  readonly binarisation?: CanvasBinarisation;
  /** Digits per MNIST split (tests, quick runs). */
  readonly limit?: number;
  /**
   * Training images per training digit (default 1): with K, the train split holds K·digits images, each
   * digit in K canvases of its own (places, clutter, partner digit or tint), so a long run sees fresh
   * images rather than the same ones every epoch. Validation and test keep one image per digit.
   */
  readonly canvasesPerDigit?: number;
}

/** `kind` built from grey MNIST digits (loaded once per call). */
export const loadSynthetic = (
  kind: SyntheticKind,
  o: SyntheticLoadOptions = {},
  digits: MnistSplits = loadMnist({ binarisation: 'grey', limit: o.limit }),
): SyntheticSplits => {
  const K = o.canvasesPerDigit ?? 1;
  if (!(Number.isSafeInteger(K) && K >= 1))
    throw new RangeError(`synthetic data: canvasesPerDigit must be an integer ≥ 1, got ${K}`);
  const make = (split: keyof SyntheticSplits): ImageSource => {
    const d = digits[split];
    const opts = { seed: o.seed, split, n: split === 'train' ? K * d.n : d.n };
    return kind === 'cluttered'
      ? cluttered(d, opts)
      : kind === 'two-digit'
        ? twoDigit(d, { ...opts, binarisation: o.binarisation })
        : colourDigits(d, opts);
  };
  return { train: make('train'), validation: make('validation'), test: make('test') };
};
