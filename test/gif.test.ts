// `draw sample --gif FILE`: the grid of samples drawing itself, one frame per step with the write
// glimpse. Decoded with omggif (an independent GIF reader): T frames of the grid's size, looping, the
// glimpse boxes in every frame, and the last frame the final canvas that samples.png shows.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import { train } from '../src/cli/train.ts';
import { sample } from '../src/cli/sample.ts';
import { parseFlags } from '../src/cli/options.ts';
import { encodeAnimation } from '../src/io/gif.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-gif-'));
const T = 3;
const flags = (...args: string[]) => parseFlags(args).flags;

describe('sample --gif', () => {
  let reader: GifReader;
  let result: Record<string, unknown>;
  const frame = (i: number): Uint8Array => {
    const px = new Uint8Array(reader.width * reader.height * 4);
    reader.decodeAndBlitFrameRGBA(i, px);
    return px;
  };
  const isRed = (px: Uint8Array, at: number) => px[at] > 180 && px[at + 1] < 90 && px[at + 2] < 90;

  beforeAll(async () => {
    await train(
      flags(
        'train',
        '--preset',
        'small',
        '--T',
        String(T),
        '--enc',
        '16',
        '--dec',
        '16',
        '--z',
        '4',
        '--write-n',
        '3',
        '--batch',
        '10',
        '--steps',
        '20',
        '--lr',
        '0.01',
        '--val-images',
        '20',
        '--out',
        join(dir, 'run'),
        '--json',
      ),
    );
    result = sample(
      flags(
        'sample',
        '--checkpoint',
        join(dir, 'run', 'checkpoint.safetensors'),
        '--count',
        '4',
        '--gif',
        join(dir, 'drawing.gif'),
        '--out',
        join(dir, 'pictures'),
      ),
    );
    reader = new GifReader(readFileSync(join(dir, 'drawing.gif')));
  }, 120_000);

  it('has T frames of the grid (2×2 samples of 28×28 at scale 3, 1-pixel separators), looping, the last held longer', () => {
    expect(result.gif).toBe(join(dir, 'drawing.gif'));
    expect(reader.numFrames()).toBe(T);
    expect([reader.width, reader.height]).toEqual([2 * 84 + 1, 2 * 84 + 1]);
    expect(reader.loopCount()).toBe(0);
    expect(Array.from({ length: T }, (_, i) => reader.frameInfo(i).delay)).toEqual([15, 15, 150]); // centiseconds
    for (let i = 0; i < T; i++) expect(reader.frameInfo(i)).toMatchObject({ x: 0, y: 0, width: 169, height: 169 });
  });

  it('draws the write glimpse in red in every frame, and the canvas changes from step to step', () => {
    const frames = Array.from({ length: T }, (_, i) => frame(i));
    for (const [i, px] of frames.entries()) {
      const red = Array.from({ length: px.length / 4 }, (_, k) => isRed(px, 4 * k)).filter(Boolean).length;
      expect(red, `frame ${i}`).toBeGreaterThan(20);
    }
    expect(Buffer.from(frames[0]).equals(Buffer.from(frames[T - 1]))).toBe(false);
  });

  it('ends on the final canvas: the last frame is samples.png with the boxes drawn on it', () => {
    const png = PNG.sync.read(readFileSync(result.samplesPng as string));
    expect([png.width, png.height]).toEqual([reader.width, reader.height]);
    const last = frame(T - 1);
    let compared = 0;
    let worst = 0;
    for (let at = 0; at < last.length; at += 4) {
      if (isRed(last, at)) continue;
      compared++;
      worst = Math.max(worst, Math.abs(last[at] - png.data[at]));
    }
    expect(compared).toBeGreaterThan(0.9 * reader.width * reader.height);
    expect(worst).toBeLessThanOrEqual(16); // 256 colours for every grey level and the red: a little rounding
  });

  it('an unwritable --gif path is one line, exit 2, and no picture is written', () => {
    const bad = join(dir, 'no', 'such', 'folder', 'a.gif');
    const out = join(dir, 'unwritten');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'sample',
        '--checkpoint',
        join(dir, 'run', 'checkpoint.safetensors'),
        '--count',
        '4',
        '--gif',
        bad,
        '--out',
        out,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(
      `error: cannot write animation ${bad}: folder ${join(dir, 'no', 'such', 'folder')} does not exist or is not a folder`,
    );
    expect(readdirSync(out)).toEqual([]);
  }, 60_000);

  it('refuses frames of different sizes by name', () => {
    const f = (w: number) => ({ width: w, height: 2, data: new Uint8Array(4 * w * 2) });
    expect(() => encodeAnimation([f(2), f(3)])).toThrow('animation: frame 1 is 3×2, frame 0 is 2×2');
  });
});
