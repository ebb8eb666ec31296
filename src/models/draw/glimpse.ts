// Where a glimpse looked, as a box for pictures: the square through the first and last filter
// centres of one step's attention. Pure and dependency-free, so the exported generator's runtime
// (and the browser demo) draw the same boxes as `draw sample`.

/** Pixel coordinates, 0-based (pixel i spans [i, i+1)). */
export interface GlimpseBox {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/**
 * The box of image `n` at step `t`, from outputs `<part>.gx|gy|delta` shaped [T, batch] (gx, gy
 * 1-based as in the paper); undefined when the part has no attention outputs.
 */
export const glimpseBox = (
  out: Readonly<Record<string, ArrayLike<number>>>,
  part: 'read' | 'write',
  N: number,
  t: number,
  n: number,
  batch: number,
): GlimpseBox | undefined => {
  const at = (k: string) => out[`${part}.${k}`]?.[t * batch + n];
  const [gx, gy, delta] = [at('gx'), at('gy'), at('delta')];
  if (gx === undefined || gy === undefined || delta === undefined) return undefined;
  const half = ((N - 1) / 2) * delta;
  return { x0: gx - 1 - half, y0: gy - 1 - half, x1: gx - 1 + half, y1: gy - 1 + half };
};
