// DIR/generate.mjs of an exported generator (bundled by `draw export`, with pngjs inlined, so it
// needs only gpu.js): writes a PNG grid of generated digits and, with --steps, the drawing steps.
//   node generate.mjs [--seed 1] [--count 16] [--temperature 1] [--out grid.png] [--steps steps.png] [--mode gpu|cpu] [--json]
// Colour generators (config.channels 3) write RGB PNGs.
// --mode gpu (default) asks gpu.js for WebGL (headless-gl in Node, which needs a display, e.g.
// `xvfb-run -a`); gpu.js falls back quietly when it cannot, so the kernel that ran is printed.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { loadGenerator } from './runtime.ts';
import { writeImageGrid, writeStrip, type Rgb } from '../io/png.ts';

const WRITE: Rgb = [230, 40, 40];
const here = dirname(fileURLToPath(import.meta.url));

/** gpu.js, which is CommonJS, from this folder's node_modules (or any above it). */
const loadGpujs = (): typeof import('gpu.js') => {
  try {
    return createRequire(import.meta.url)('gpu.js') as typeof import('gpu.js');
  } catch (e) {
    // a copied export has no node_modules until `npm install` runs in it
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND' && /'gpu\.js'/.test((e as Error).message))
      throw new Error(`gpu.js is not installed: run \`npm install\` in ${here} first`);
    throw new Error(`gpu.js does not load: ${(e as Error).message.split('\n')[0]}`);
  }
};

const main = async (): Promise<void> => {
  const { values: f } = parseArgs({
    options: {
      seed: { type: 'string', default: '1' },
      count: { type: 'string', default: '16' },
      temperature: { type: 'string', default: '1' },
      out: { type: 'string', default: 'grid.png' },
      steps: { type: 'string' },
      mode: { type: 'string', default: 'gpu' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const seed = Number(f.seed);
  const count = Number(f.count);
  const temperature = Number(f.temperature);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got '${f.seed}'`);
  if (!(Number.isInteger(count) && count > 0)) throw new Error(`--count must be a positive integer, got '${f.count}'`);
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new Error(`--temperature must be a positive number, got '${f.temperature}'`);
  if (f.mode !== 'gpu' && f.mode !== 'cpu') throw new Error(`--mode must be 'gpu' or 'cpu', got '${f.mode}'`);
  const { GPU } = loadGpujs();
  const gen = await loadGenerator(
    async (name) => {
      const b = await readFile(join(here, name));
      return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
    },
    new GPU({ mode: f.mode }),
  );
  const d = gen.generate({ count, seed, temperature });
  const { A: cols, B: rows, T, channels } = gen.manifest.config;
  const pixels = rows * cols * channels;
  writeImageGrid(f.out!, d.images, { count, rows, cols, channels, scale: 2, gridCols: Math.ceil(Math.sqrt(count)) });
  if (f.steps) {
    const take = Math.min(count, 8);
    const frames = Array.from({ length: T }, (_, t) => d.canvas.slice(t * count * pixels, (t * count + take) * pixels));
    const boxes = Array.from({ length: T }, (_, t) =>
      Array.from({ length: take }, (_, n) => {
        const b = d.box(t, n);
        return b && [{ ...b, color: WRITE }];
      }),
    );
    writeStrip(f.steps, frames, { count: take, rows, cols, channels, scale: 2, boxes });
  }
  const result = {
    out: f.out,
    steps: f.steps ?? null,
    seed,
    count,
    temperature,
    kernel: gen.kernel(),
    webgl: gen.webgl(),
  };
  gen.dispose();
  if (f.json) console.log(JSON.stringify(result));
  else
    console.log(
      `wrote ${f.out}${f.steps ? ` and ${f.steps}` : ''}: ${count} digits, seed ${seed}${temperature === 1 ? '' : `, temperature ${temperature}`}, gpu.js ran ${result.kernel}${result.webgl ? ' (WebGL)' : f.mode === 'cpu' ? ' (CPU mode)' : ' (no WebGL here: gpu.js fell back)'}`,
    );
};

// every failure here is the user's to fix (a flag, the folder, gpu.js missing): one line, exit 2
main().catch((e: Error) => {
  console.error(`error: ${e.message.split('\n')[0]}`);
  process.exitCode = 2;
});
