// Images that are computed rather than stored: a synthetic data set (src/data/synthetic.ts) draws
// image i from its seed when a batch asks for it, so 50,000 cluttered 100×100 images never need
// 2 GB of memory or a cache on disk. Batching (gatherBatch in mnist.ts) reads a source the same way
// as a stored data set. Pure: no Node built-ins.

export interface ImageSource {
  /** Images in the set. */
  readonly n: number;
  readonly rows: number;
  readonly cols: number;
  /** Colour channels (stored channel-major, as DRAW's config expects); 1 when absent. */
  readonly channels?: number;
  /** One label per image (what each data set means by its label is documented with it). */
  readonly labels: Uint8Array;
  /** Writes image `i`'s channels·rows·cols values in [0, 1] into `out` from `offset`. A pure function of i. */
  readonly render: (i: number, out: Float32Array, offset: number) => void;
}

/** Values per image of anything with rows, cols and perhaps channels. */
export const valuesPerImage = (d: {
  readonly rows: number;
  readonly cols: number;
  readonly channels?: number;
}): number => (d.channels ?? 1) * d.rows * d.cols;

/** The first `count` images of a source (at most all it has) in one array: for pictures and checksums. */
export const renderImages = (src: ImageSource, count = src.n): Float32Array => {
  const k = Math.min(count, src.n);
  const px = valuesPerImage(src);
  const out = new Float32Array(k * px);
  for (let i = 0; i < k; i++) src.render(i, out, i * px);
  return out;
};
