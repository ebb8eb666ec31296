// Image grids as PNG: samples, reconstructions, and canvas/glimpse sequences with the attention
// window drawn as a coloured box. Value 1 is white (MNIST ink), 0 black; with 3 channels (stored
// channel-major, as DRAW's images are) the planes are red, green and blue.

import { PNG } from 'pngjs';
import { writeFileAtomic } from './atomic.ts';

export type Rgb = readonly [number, number, number];

/** A glimpse window in image pixel coordinates (floats; pixel i spans [i, i+1)). */
export interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  readonly color: Rgb;
}

export interface GridOptions {
  /** How many images to draw from the front of `images`. */
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  /** 1 (grey, default) or 3 (RGB planes, each rows×cols, one after the other). */
  readonly channels?: number;
  /** Images per grid row. */
  readonly gridCols: number;
  /** Integer upscaling of every image pixel; default 1. */
  readonly scale?: number;
  /** Per image, boxes drawn on top (outline, 1 output pixel wide). */
  readonly boxes?: ReadonlyArray<ReadonlyArray<Box> | undefined>;
  /** Colour of the 1-px lines between images; default mid grey. */
  readonly separator?: Rgb;
}

export interface StripOptions {
  /** Images per step (one output row each). */
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly channels?: number;
  readonly scale?: number;
  /** boxes[step][image]. */
  readonly boxes?: ReadonlyArray<ReadonlyArray<ReadonlyArray<Box> | undefined> | undefined>;
  readonly separator?: Rgb;
}

const DEFAULT_SEPARATOR: Rgb = [128, 128, 128];
// NaN pixels are painted magenta rather than black so a diverged model is obvious in a sample grid.
const NAN_COLOUR: Rgb = [255, 0, 255];

const checkPositiveInt = (name: string, v: number): void => {
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`image grid: ${name} must be a positive integer, got ${v}`);
};

const toByte = (v: number): number => Math.round(Math.min(1, Math.max(0, v)) * 255);

/** RGBA pixels, row-major: what a grid looks like before it is encoded (as PNG here, as GIF frames in gif.ts). */
export interface Picture {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** Lay out `count` greyscale images as one grid of RGBA pixels (so boxes can be coloured). */
export const renderImageGrid = (images: Float32Array, opts: GridOptions): Picture => {
  const { count, rows, cols, gridCols } = opts;
  const scale = opts.scale ?? 1;
  checkPositiveInt('count', count);
  checkPositiveInt('rows', rows);
  checkPositiveInt('cols', cols);
  checkPositiveInt('gridCols', gridCols);
  checkPositiveInt('scale', scale);
  const channels = opts.channels ?? 1;
  if (channels !== 1 && channels !== 3) throw new Error(`image grid: channels must be 1 or 3, got ${channels}`);
  const px = rows * cols;
  const per = channels * px;
  if (images.length < count * per) {
    throw new Error(
      `image grid: need ${count}×${channels > 1 ? `${channels}×` : ''}${rows}×${cols} = ${count * per} values but got ${images.length}`,
    );
  }
  if (opts.boxes && opts.boxes.length > count) {
    throw new Error(`image grid: boxes given for ${opts.boxes.length} images but count is ${count}`);
  }
  const gridRows = Math.ceil(count / gridCols);
  const cw = cols * scale;
  const ch = rows * scale;
  const width = gridCols * cw + (gridCols - 1);
  const height = gridRows * ch + (gridRows - 1);
  const data = new Uint8Array(4 * width * height);
  const sep = opts.separator ?? DEFAULT_SEPARATOR;
  for (let i = 0; i < width * height; i++) {
    data[4 * i] = sep[0];
    data[4 * i + 1] = sep[1];
    data[4 * i + 2] = sep[2];
    data[4 * i + 3] = 255;
  }
  const put = (x: number, y: number, c: Rgb): void => {
    const o = 4 * (y * width + x);
    data[o] = c[0];
    data[o + 1] = c[1];
    data[o + 2] = c[2];
  };
  for (let k = 0; k < count; k++) {
    const ox = (k % gridCols) * (cw + 1);
    const oy = Math.floor(k / gridCols) * (ch + 1);
    for (let r = 0; r < ch; r++) {
      for (let c = 0; c < cw; c++) {
        const at = k * per + Math.floor(r / scale) * cols + Math.floor(c / scale);
        const o = 4 * ((oy + r) * width + ox + c);
        let nan = false;
        for (let q = 0; q < 3; q++) {
          const v = images[at + (channels === 3 ? q * px : 0)];
          nan ||= Number.isNaN(v);
          data[o + q] = toByte(v);
        }
        if (nan) put(ox + c, oy + r, NAN_COLOUR);
      }
    }
    for (const box of opts.boxes?.[k] ?? []) drawBox(box, scale, cw, ch, (x, y, col) => put(ox + x, oy + y, col));
  }
  return { width, height, data };
};

/** Encode `count` greyscale images as one PNG grid (RGBA, so boxes can be coloured). */
export const encodeImageGrid = (images: Float32Array, opts: GridOptions): Buffer => {
  const { width, height, data } = renderImageGrid(images, opts);
  const png = new PNG({ width, height });
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return PNG.sync.write(png);
};

// Outline of `box` inside one cell; parts outside the image are clipped away, not clamped onto
// its border, so a glimpse that overhangs the image visibly runs off the edge.
const drawBox = (
  box: Box,
  scale: number,
  cw: number,
  ch: number,
  put: (x: number, y: number, c: Rgb) => void,
): void => {
  const vals = [box.x0, box.y0, box.x1, box.y1];
  if (!vals.every(Number.isFinite)) return; // a NaN window has no meaningful outline
  const X0 = Math.min(box.x0, box.x1) * scale;
  const X1 = Math.max(box.x0, box.x1) * scale;
  const Y0 = Math.min(box.y0, box.y1) * scale;
  const Y1 = Math.max(box.y0, box.y1) * scale;
  if (X1 <= 0 || Y1 <= 0 || X0 >= cw || Y0 >= ch) return;
  const left = Math.floor(X0);
  const right = Math.max(left, Math.ceil(X1) - 1);
  const top = Math.floor(Y0);
  const bottom = Math.max(top, Math.ceil(Y1) - 1);
  const xa = Math.max(0, left),
    xb = Math.min(cw - 1, right);
  const ya = Math.max(0, top),
    yb = Math.min(ch - 1, bottom);
  for (let x = xa; x <= xb; x++) {
    if (top >= 0) put(x, top, box.color);
    if (bottom < ch) put(x, bottom, box.color);
  }
  for (let y = ya; y <= yb; y++) {
    if (left >= 0) put(left, y, box.color);
    if (right < cw) put(right, y, box.color);
  }
};

/** Write an image grid atomically (temp file + rename); errors name the path. */
export const writeImageGrid = (path: string, images: Float32Array, opts: GridOptions): void => {
  writeFileAtomic(path, encodeImageGrid(images, opts), 'image');
};

/**
 * A sequence laid out as one row per image and one column per step, e.g. DRAW canvases over time.
 * `steps[t]` holds `count` images for step t.
 */
export const encodeStrip = (steps: readonly Float32Array[], opts: StripOptions): Buffer => {
  const T = steps.length;
  if (T === 0) throw new Error('image strip: no steps given');
  const { count, rows, cols } = opts;
  checkPositiveInt('count', count);
  const px = (opts.channels ?? 1) * rows * cols;
  const grid = new Float32Array(count * T * px);
  const boxes: (ReadonlyArray<Box> | undefined)[] = new Array(count * T);
  for (let t = 0; t < T; t++) {
    if (steps[t].length < count * px) {
      throw new Error(
        `image strip: step ${t} has ${steps[t].length} values, need ${count}×${px / (rows * cols) > 1 ? `${px / (rows * cols)}×` : ''}${rows}×${cols} = ${count * px}`,
      );
    }
    for (let k = 0; k < count; k++) {
      grid.set(steps[t].subarray(k * px, (k + 1) * px), (k * T + t) * px);
      boxes[k * T + t] = opts.boxes?.[t]?.[k];
    }
  }
  return encodeImageGrid(grid, {
    count: count * T,
    rows,
    cols,
    channels: opts.channels,
    gridCols: T,
    scale: opts.scale,
    separator: opts.separator,
    boxes: opts.boxes ? boxes : undefined,
  });
};

export const writeStrip = (path: string, steps: readonly Float32Array[], opts: StripOptions): void => {
  writeFileAtomic(path, encodeStrip(steps, opts), 'image');
};
