import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeImageGrid, encodeStrip, writeImageGrid, type Box } from '../src/io/png.ts';

const tmp = mkdtempSync(join(tmpdir(), 'png-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// 6 images of 4 rows × 5 cols; image k has value k/5 everywhere except pixel (r=1,c=2) = 1.
const rows = 4,
  cols = 5,
  count = 6;
const images = new Float32Array(count * rows * cols);
for (let k = 0; k < count; k++) {
  images.fill(k / 5, k * rows * cols, (k + 1) * rows * cols);
  images[k * rows * cols + 1 * cols + 2] = 1;
}
const rgb = (png: PNG, x: number, y: number): number[] => {
  const o = 4 * (y * png.width + x);
  return [png.data[o], png.data[o + 1], png.data[o + 2]];
};

describe('encodeImageGrid', () => {
  it('lays out a 2×3 grid with 1-px separators at the right size', () => {
    const png = PNG.sync.read(encodeImageGrid(images, { count, rows, cols, gridCols: 3, scale: 2 }));
    expect(png.width).toBe(3 * cols * 2 + 2);
    expect(png.height).toBe(2 * rows * 2 + 1);
    // image 4 is grid row 1, col 1: origin x = 1*(10+1) = 11, y = 1*(8+1) = 9
    expect(rgb(png, 11, 9)).toEqual([204, 204, 204]);
    // its bright pixel (r=1,c=2) at scale 2 covers x 15..16, y 11..12
    expect(rgb(png, 16, 12)).toEqual([255, 255, 255]);
    expect(rgb(png, 17, 12)).toEqual([204, 204, 204]);
    // separator column between grid columns 0 and 1
    expect(rgb(png, 10, 3)).toEqual([128, 128, 128]);
    expect(rgb(png, 0, 0)).toEqual([0, 0, 0]); // image 0 is all zero apart from its bright pixel
  });

  it('draws 3-channel images (channel-major planes) in colour, NaN in any channel magenta', () => {
    // 2 images of 4×5 with constant planes (r, g, b) = (0.2, 0.6, 1) and (1, 0, 0.4)
    const planes = [
      [0.2, 0.6, 1],
      [1, 0, 0.4],
    ];
    const colour = new Float32Array(2 * 3 * rows * cols);
    planes.forEach((p, k) =>
      p.forEach((v, q) => colour.fill(v, (k * 3 + q) * rows * cols, (k * 3 + q + 1) * rows * cols)),
    );
    colour[(1 * 3 + 2) * rows * cols + 7] = NaN; // image 1, blue plane, pixel (1, 2)
    const png = PNG.sync.read(encodeImageGrid(colour, { count: 2, rows, cols, channels: 3, gridCols: 2 }));
    expect(png.width).toBe(2 * cols + 1);
    expect(rgb(png, 0, 0)).toEqual([51, 153, 255]);
    expect(rgb(png, cols + 1, 0)).toEqual([255, 0, 102]);
    expect(rgb(png, cols + 1 + 2, 1)).toEqual([255, 0, 255]);
    expect(() => encodeImageGrid(colour, { count: 3, rows, cols, channels: 3, gridCols: 2 })).toThrow(
      'need 3×3×4×5 = 180 values but got 120',
    );
    expect(() => encodeImageGrid(colour, { count: 1, rows, cols, channels: 2, gridCols: 1 })).toThrow(
      'channels must be 1 or 3, got 2',
    );
  });

  it('draws boxes in image coordinates, clipped to the image', () => {
    const red: Box = { x0: 0, y0: 0, x1: 4, y1: 4, color: [255, 0, 0] };
    const overhang: Box = { x0: 3.5, y0: -2, x1: 9, y1: 2, color: [0, 255, 0] };
    const png = PNG.sync.read(
      encodeImageGrid(images, {
        count,
        rows,
        cols,
        gridCols: 3,
        scale: 1,
        boxes: [undefined, [red], [overhang]],
      }),
    );
    const o1 = cols + 1; // image 1 (value 0.2 -> 51) starts here
    expect(rgb(png, o1, 0)).toEqual([255, 0, 0]); // top-left corner
    expect(rgb(png, o1 + 3, 3)).toEqual([255, 0, 0]); // bottom-right corner: pixels 0..3 are inside [0,4)
    expect(rgb(png, o1 + 1, 1)).toEqual([51, 51, 51]); // interior untouched
    expect(rgb(png, o1 + 4, 0)).toEqual([51, 51, 51]); // column 4 is outside the box
    const o2 = 2 * (cols + 1); // image 2 (value 0.4 -> 102)
    // overhanging box: only its left edge (x=3) and bottom edge (y=1) lie inside the image
    expect(rgb(png, o2 + 3, 0)).toEqual([0, 255, 0]);
    expect(rgb(png, o2 + 4, 1)).toEqual([0, 255, 0]);
    expect(rgb(png, o2 + 4, 0)).toEqual([102, 102, 102]); // no clamped top/right edge drawn
    expect(rgb(png, o2 + 3, 2)).toEqual([102, 102, 102]);
    expect(rgb(png, o2 - 1, 0)).toEqual([128, 128, 128]); // separator not painted over
  });

  it('paints NaN pixels magenta and rejects short input', () => {
    const bad = new Float32Array(rows * cols).fill(Number.NaN);
    const png = PNG.sync.read(encodeImageGrid(bad, { count: 1, rows, cols, gridCols: 1 }));
    expect(rgb(png, 0, 0)).toEqual([255, 0, 255]);
    expect(() => encodeImageGrid(bad, { count: 2, rows, cols, gridCols: 1 })).toThrow(
      /need 2×4×5 = 40 values but got 20/,
    );
  });
});

describe('strips and files', () => {
  it('puts one image per row and one step per column', () => {
    const steps = [0, 1, 2].map((t) => new Float32Array(2 * rows * cols).fill(t / 2));
    steps[2].fill(0.25, rows * cols); // step 2, image 1
    const png = PNG.sync.read(encodeStrip(steps, { count: 2, rows, cols }));
    expect([png.width, png.height]).toEqual([3 * cols + 2, 2 * rows + 1]);
    expect(rgb(png, 2 * (cols + 1), 0)[0]).toBe(255); // image 0, step 2 = 1.0
    expect(rgb(png, 2 * (cols + 1), rows + 1)[0]).toBe(64); // image 1, step 2 = 0.25
    expect(rgb(png, cols + 1, rows + 1)[0]).toBe(128); // image 1, step 1 = 0.5
  });

  it('writes atomically and leaves no temp files', () => {
    const p = join(tmp, 'grid.png');
    writeImageGrid(p, images, { count, rows, cols, gridCols: 3 });
    expect(PNG.sync.read(readFileSync(p)).width).toBe(3 * cols + 2);
    expect(readdirSync(tmp)).toEqual(['grid.png']);
    expect(() => writeImageGrid(join(tmp, 'no', 'grid.png'), images, { count, rows, cols, gridCols: 3 })).toThrow(
      /folder .*no does not exist/,
    );
    expect(existsSync(join(tmp, 'no'))).toBe(false);
  });
});
