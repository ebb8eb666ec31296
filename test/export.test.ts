// The exported generator: a tiny model is trained and exported with the CLI, then the export's own
// runtime (in gpu.js CPU mode and, where WebGL starts, on headless-gl), its Node command and the
// browser demo must draw what the library's `generate` draws for the same noise.
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync, copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { PNG } from 'pngjs';
import { GifReader } from 'omggif';
import { encodeImageGrid } from '../src/io/png.ts';
import { getGpuContext } from '../src/compiler/backends/gpujs/context.ts';
import { itNeeds, webgl, chromium } from './system.ts';
import type { Generator, loadGenerator as LoadGenerator } from '../src/export/runtime.ts';
import { demoInBrowser } from './browser.ts';
import { serveDemo } from '../examples/demo/serve.ts';
import { GPU, exportFixture, readFrom, libraryDrawing, asRgbPlanes, maxDiff } from './export-fixture.ts';

const fixture = exportFixture();
const { dir, out, checkpoint } = fixture;
const SEED = 7;
const COUNT = 20; // more than one batch of 16: the runtime must run the program twice

let loadGenerator: typeof LoadGenerator;
let reference: Record<string, Float32Array>;
let exported: Record<string, unknown>;
const decodePng = (path: string) => PNG.sync.read(readFileSync(path)).data;

beforeAll(async () => {
  const built = await fixture.build();
  ({
    exported,
    runtime: { loadGenerator },
  } = built);
  reference = libraryDrawing(checkpoint, SEED, COUNT);
}, 120_000);

const expectMatches = (g: Generator, tol: number) => {
  const d = g.generate({ count: COUNT, seed: SEED });
  expect(maxDiff(d.canvas, reference.canvas)).toBeLessThan(tol);
  for (const k of ['gx', 'gy', 'delta', 'sigma', 'gamma'])
    expect(maxDiff(d.write[k], reference[`write.${k}`])).toBeLessThan(tol * 10);
  return d;
};

describe('draw export', () => {
  it('writes manifest, program, generator weights only, runtime, command and gpu.js browser build', () => {
    const m = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    const sha = (f: string) =>
      createHash('sha256')
        .update(readFileSync(join(out, f)))
        .digest('hex');
    expect(m.format).toBe('draw-ts/generator/1');
    expect(m.weights.sha256).toBe(sha('weights.bin'));
    expect(m.program.sha256).toBe(sha('program.json'));
    const names: string[] = m.weights.tensors.map((t: { name: string }) => t.name);
    expect(names).toContain('dec.w');
    expect(names.some((n) => n.startsWith('enc.') || n.startsWith('read.') || n.startsWith('q.'))).toBe(false);
    // the runtime is standalone: no import at all, so gpu.js comes from the caller
    expect(readFileSync(join(out, 'runtime.mjs'), 'utf8')).not.toMatch(/^\s*import\s/m);
    expect(JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')).dependencies).toEqual({ 'gpu.js': '2.24.1' });
  });

  it("its runtime in gpu.js's CPU mode draws what the library's generate draws for the same seed", async () => {
    const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
    const d = expectMatches(g, 1e-5);
    expect(g.kernel()).toBe('CPUKernel');
    expect(g.webgl()).toBe(false);
    expect(d.images).toEqual(d.canvas.slice((d.T - 1) * COUNT * 784));
    expect(d.box(0, 0)).toBeDefined();
  });

  it("draws at a temperature what it draws from the seed's noise scaled by it, and refuses one that is not positive", async () => {
    const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
    const cool = g.generate({ count: 4, seed: SEED, temperature: 0.5 }).canvas;
    expect(cool).toEqual(g.generate({ count: 4, eps: g.noise(SEED, 4).map((e) => e * 0.5) }).canvas);
    expect(maxDiff(cool, g.generate({ count: 4, seed: SEED }).canvas)).toBeGreaterThan(1e-3);
    for (const t of [0, -1, NaN, Infinity])
      expect(() => g.generate({ count: 4, temperature: t })).toThrow(`temperature must be a positive number, got ${t}`);
  });

  itNeeds(webgl)(
    'its runtime on WebGL (headless-gl) matches within float32 tolerance and says it ran WebGL',
    async () => {
      const ctx = getGpuContext();
      if (!ctx.ok) throw new Error(ctx.reason);
      const g = await loadGenerator(readFrom(out), ctx.gpu);
      expectMatches(g, 1e-3);
      expect(g.kernel()).toBe('HeadlessGLKernel');
      expect(g.webgl()).toBe(true);
      g.dispose();
    },
  );

  it('node generate.mjs writes the same PNG grid as the library, and the drawing steps', () => {
    const r = spawnSync(
      process.execPath,
      [
        join(out, 'generate.mjs'),
        '--seed',
        String(SEED),
        '--count',
        String(COUNT),
        '--mode',
        'cpu',
        '--out',
        join(dir, 'grid.png'),
        '--steps',
        join(dir, 'steps.png'),
        '--json',
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({
      count: COUNT,
      seed: SEED,
      kernel: 'CPUKernel',
      webgl: false,
    });
    const mine = encodeImageGrid(reference.canvas.slice(3 * COUNT * 784), {
      count: COUNT,
      rows: 28,
      cols: 28,
      scale: 2,
      gridCols: 5,
    });
    expect(maxDiff(decodePng(join(dir, 'grid.png')), PNG.sync.read(mine).data)).toBeLessThanOrEqual(1);
    expect(PNG.sync.read(readFileSync(join(dir, 'steps.png'))).height).toBeGreaterThan(0);
  });

  it('refuses a corrupt weights file, naming it', async () => {
    const bad = join(dir, 'corrupt');
    mkdirSync(bad);
    for (const f of ['manifest.json', 'program.json', 'weights.bin']) copyFileSync(join(out, f), join(bad, f));
    const w = readFileSync(join(bad, 'weights.bin'));
    w[100] ^= 0xff;
    writeFileSync(join(bad, 'weights.bin'), w);
    await expect(loadGenerator(readFrom(bad), new GPU({ mode: 'cpu' }))).rejects.toThrow(/weights\.bin is corrupt/);
  });

  it("prints a 'try' command that installs gpu.js in the folder and runs generate.mjs there", () => {
    expect(exported.try).toBe(`cd ${out} && npm install && node generate.mjs --seed 1 --count 16 --out grid.png`);
  });

  it('the CLI names a missing checkpoint', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'export', '--checkpoint', join(dir, 'nope.bin'), '--out', join(dir, 'x')],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nope\.bin/);
  });
});

describe('the browser demo', () => {
  it('its server refuses a folder without an export, naming the command that makes one', async () => {
    await expect(serveDemo({ model: join(dir, 'run'), port: 0 })).rejects.toThrow(
      /no exported generator in .*draw -- export/,
    );
  });

  it('serves the page and the export, and nothing else from the disk', async () => {
    const demo = await serveDemo({ model: out, port: 0 });
    try {
      const status = async (path: string) => (await fetch(new URL(path, demo.url))).status;
      expect(await status('/')).toBe(200);
      expect(await status('/model/manifest.json')).toBe(200);
      expect(await status('/model/node_modules/gpu.js/package.json')).toBe(404);
      expect(await status('/model/../package.json')).toBe(404);
      expect(await status('/serve.ts')).toBe(404);
    } finally {
      await demo.close();
    }
  });

  it('answers a request whose target is no URL with 400, and goes on serving', async () => {
    const demo = await serveDemo({ model: out, port: 0 });
    try {
      // fetch would normalise the target, so the request is written by hand
      const { port } = new URL(demo.url);
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.end('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
        );
        let text = '';
        socket
          .on('data', (b) => (text += b))
          .on('end', () => resolve(text))
          .on('error', reject);
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400 /);
      expect((await fetch(demo.url)).status).toBe(200);
    } finally {
      await demo.close();
    }
  });

  it.each([['--bogus'], ['--port', 'abc']])('its command refuses %s in one line naming the flag, exit 2', (...args) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/demo/serve.ts', ...args, '--model', out], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^error: .*${args[0]}`));
  });

  itNeeds(chromium)(
    'draws the digits of the export in Chromium on WebGL, close to the Node runtime',
    async () => {
      const page = await demoInBrowser(out, {
        seed: SEED,
        temperature: 0.7,
        screenshot: join('runs', 'test-artifacts', 'demo-page.png'),
      });
      expect(page.error).toBe('');
      expect(page.mode).toMatch(/^WebGL2?Kernel \(WebGL\)$/);
      expect(page.step).toBe('4');
      const g = await loadGenerator(readFrom(out), new GPU({ mode: 'cpu' }));
      const node = g.generate({ count: g.manifest.batch, seed: SEED, temperature: 0.7 }).images;
      expect(maxDiff(page.images, node)).toBeLessThan(1e-3);
      // what the canvas shows: each digit's pixels, read back from the page, against the Node images
      expect(
        maxDiff(
          page.canvasPixels,
          asRgbPlanes(node, g.manifest.batch, 1).map((v) => Math.round(255 * v)),
        ),
      ).toBeLessThanOrEqual(2);
      const spread = Math.max(...page.canvasPixels) - Math.min(...page.canvasPixels);
      expect(spread).toBeGreaterThan(50); // not blank
      // the page offers the drawing as an animated GIF: one frame per step, the canvas's size
      const gif = new GifReader(Uint8Array.from(page.gif));
      expect(gif.numFrames()).toBe(4);
      expect([gif.width, gif.height]).toEqual(page.canvasSize);
    },
    120_000,
  );
});
