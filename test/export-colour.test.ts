// A colour generator (coloured MNIST, 3 channels) exported and run: the runtime, generate.mjs's RGB
// PNG and the browser demo's canvas must all show what the library's `generate` draws.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import { encodeImageGrid } from '../src/io/png.ts';
import { itNeeds, chromium } from './system.ts';
import type { loadGenerator as LoadGenerator } from '../src/export/runtime.ts';
import { demoInBrowser } from './browser.ts';
import { GPU, exportFixture, readFrom, libraryDrawing, asRgbPlanes, maxDiff } from './export-fixture.ts';

const fixture = exportFixture('colour');
const { dir, out, checkpoint } = fixture;
const SEED = 11;
const COUNT = 6;
const TEMPERATURE = 0.8;
const PIXELS = 3 * 28 * 28;

let loadGenerator: typeof LoadGenerator;
let reference: Record<string, Float32Array>;

beforeAll(async () => {
  ({
    runtime: { loadGenerator },
  } = await fixture.build());
  reference = libraryDrawing(checkpoint, SEED, COUNT, TEMPERATURE);
}, 120_000);

describe('an exported colour generator', () => {
  it('records 3 channels, and its runtime draws what the library draws for the same seed and temperature', async () => {
    const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
    expect(g.manifest.config.channels).toBe(3);
    const d = g.generate({ count: COUNT, seed: SEED, temperature: TEMPERATURE });
    expect(d.images.length).toBe(COUNT * PIXELS);
    expect(maxDiff(d.canvas, reference.canvas)).toBeLessThan(1e-5);
  });

  it("generate.mjs writes an RGB PNG grid: the library's images, drawn as colour", () => {
    const r = spawnSync(
      process.execPath,
      [
        join(out, 'generate.mjs'),
        '--seed',
        String(SEED),
        '--count',
        String(COUNT),
        '--temperature',
        String(TEMPERATURE),
        '--mode',
        'cpu',
        '--out',
        join(dir, 'colour.png'),
        '--steps',
        join(dir, 'colour-steps.png'),
        '--json',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({
      count: COUNT,
      seed: SEED,
      temperature: TEMPERATURE,
    });
    const images = reference.canvas.slice(reference.canvas.length - COUNT * PIXELS);
    const mine = PNG.sync.read(
      encodeImageGrid(images, { count: COUNT, rows: 28, cols: 28, channels: 3, scale: 2, gridCols: 3 }),
    );
    const written = PNG.sync.read(readFileSync(join(dir, 'colour.png')));
    expect([written.width, written.height]).toEqual([mine.width, mine.height]);
    expect(maxDiff(written.data, mine.data)).toBeLessThanOrEqual(1);
    expect(PNG.sync.read(readFileSync(join(dir, 'colour-steps.png'))).height).toBeGreaterThan(0);
  });

  itNeeds(chromium)(
    'the browser demo paints its three channels',
    async () => {
      const page = await demoInBrowser(out, {
        seed: SEED,
        temperature: TEMPERATURE,
        screenshot: join('runs', 'test-artifacts', 'demo-page-colour.png'),
      });
      expect(page.error).toBe('');
      const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
      const node = g.generate({ count: g.manifest.batch, seed: SEED, temperature: TEMPERATURE }).images;
      expect(maxDiff(page.images, node)).toBeLessThan(1e-3);
      expect(
        maxDiff(
          page.canvasPixels,
          asRgbPlanes(node, g.manifest.batch, 3).map((v) => Math.round(255 * v)),
        ),
      ).toBeLessThanOrEqual(2);
    },
    120_000,
  );
});
