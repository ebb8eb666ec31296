// The DRAW configuration: plain data naming every size in the model, and the paper's presets.
//
// Image layout (used everywhere in this folder): an image is the paper's A (width, columns) by B
// (height, rows), with C channels. A batch of images is a [batch, C·B·A] tensor, channel-major and
// row-major within a channel: pixel (channel k, row y, column x) of image n sits at
// n·C·B·A + k·B·A + y·A + x. This is the layout src/data/mnist.ts produces for C = 1.

export interface DrawConfig {
  /** Image width in pixels (columns): the paper's A. */
  readonly A: number;
  /** Image height in pixels (rows): the paper's B. */
  readonly B: number;
  /** Colour channels: 1 for MNIST, 3 for RGB (attention uses the same filters for every channel). */
  readonly channels: number;
  /** Glimpses: the number of unrolled steps. */
  readonly T: number;
  /** LSTM state sizes of the encoder and decoder. */
  readonly encSize: number;
  readonly decSize: number;
  /** Latent dimensions per step. */
  readonly zSize: number;
  /** Filter grid sizes (N×N) of the read and write attention; ignored where attention is off. */
  readonly readN: number;
  readonly writeN: number;
  readonly readAttention: boolean;
  readonly writeAttention: boolean;
}

export class DrawConfigError extends Error {
  override name = 'DrawConfigError';
}

const positive = ['A', 'B', 'channels', 'T', 'encSize', 'decSize', 'zSize', 'readN', 'writeN'] as const;

/** Throws DrawConfigError naming the first field that is not a positive integer. */
export const checkConfig = (c: DrawConfig): DrawConfig => {
  const bad = positive.find((k) => !(Number.isInteger(c[k]) && c[k] > 0));
  if (bad) throw new DrawConfigError(`DRAW config: '${bad}' must be a positive integer, got ${c[bad]}`);
  return c;
};

/** Values per image: C·B·A. */
export const imageSize = (c: DrawConfig): number => c.channels * c.B * c.A;

const mnist = { A: 28, B: 28, channels: 1 } as const;

/** Named presets. Batch size is not part of a config: it is chosen when a graph is traced. */
export const presets = {
  /** The paper's MNIST model with attention (Table 3): 64 glimpses, LSTM 256, z 100, read 2×2, write 5×5. */
  mnistPaper: {
    ...mnist,
    T: 64,
    encSize: 256,
    decSize: 256,
    zSize: 100,
    readN: 2,
    writeN: 5,
    readAttention: true,
    writeAttention: true,
  },
  /** The same network with 10 glimpses: a fast default for experiments. */
  mnistFast: {
    ...mnist,
    T: 10,
    encSize: 256,
    decSize: 256,
    zSize: 100,
    readN: 2,
    writeN: 5,
    readAttention: true,
    writeAttention: true,
  },
  /** The paper's MNIST model without attention (Table 2): read the whole image, write the whole canvas. */
  mnistNoAttention: {
    ...mnist,
    T: 64,
    encSize: 256,
    decSize: 256,
    zSize: 100,
    readN: 2,
    writeN: 5,
    readAttention: false,
    writeAttention: false,
  },
} as const satisfies Record<string, DrawConfig>;
