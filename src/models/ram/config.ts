// The attention classifier's configuration ("differentiable RAM", DRAW paper §4.1): plain data
// naming every size, and the paper's cluttered-MNIST setting. Images are laid out as DRAW's are
// (src/models/draw/config.ts): [batch, C·B·A], channel-major, row-major within a channel.

export interface RamConfig {
  /** Image width (columns) and height (rows) in pixels, and colour channels. */
  readonly A: number;
  readonly B: number;
  readonly channels: number;
  /** Glimpses: LSTM steps, each reading one N×N patch. */
  readonly T: number;
  /** The read patch is N×N filters. */
  readonly N: number;
  /** LSTM state size. */
  readonly hidden: number;
  readonly classes: number;
}

export class RamConfigError extends Error {
  override name = 'RamConfigError';
}

const positive = ['A', 'B', 'channels', 'T', 'N', 'hidden', 'classes'] as const;

/** Throws RamConfigError naming the first field that is not a positive integer (classes: at least 2). */
export const checkRamConfig = (c: RamConfig): RamConfig => {
  const bad = positive.find((k) => !(Number.isInteger(c[k]) && c[k] > 0));
  if (bad) throw new RamConfigError(`classifier config: '${bad}' must be a positive integer, got ${c[bad]}`);
  if (c.classes < 2) throw new RamConfigError(`classifier config: 'classes' must be at least 2, got ${c.classes}`);
  return c;
};

/** The paper's setting (§4.1): 100×100 cluttered MNIST, 12×12 glimpses, LSTM 256; 8 glimpses (3.36% error) or 4 (4.18%). */
export const ramPresets = {
  cluttered8: { A: 100, B: 100, channels: 1, T: 8, N: 12, hidden: 256, classes: 10 },
  cluttered4: { A: 100, B: 100, channels: 1, T: 4, N: 12, hidden: 256, classes: 10 },
} as const satisfies Record<string, RamConfig>;
