// A tiny model trained and exported with the CLI into a fresh temporary folder: the export tests'
// common set-up. The export's own runtime.mjs is imported, so tests run what a user would run.
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { GPU as GpuType } from 'gpu.js';
import { expect } from 'vitest';
import { loadRun, compileOrThrow } from '../src/cli/session.ts';
import { trace } from '../src/compiler/trace.ts';
import type { Tensor } from '../src/dsl/tensor.ts';
import { fillNormal, seedRng } from '../src/dsl/rng.ts';
import { train } from '../src/cli/train.ts';
import { exportCommand } from '../src/cli/export.ts';
import { parseFlags } from '../src/cli/options.ts';
import type * as Runtime from '../src/export/runtime.ts';

export const { GPU } = createRequire(import.meta.url)('gpu.js') as { GPU: typeof GpuType };

export interface ExportFixture {
  /** The temporary folder: the run in run/, the export in export/. */
  readonly dir: string;
  readonly out: string;
  readonly checkpoint: string;
  /** Trains, exports and imports the export's runtime; resolves to it and to what `draw export` returned. */
  build(): Promise<{ runtime: typeof Runtime; exported: Record<string, unknown> }>;
}

/** The tiny model's training flags: a grey MNIST one by default; `colour` trains on coloured MNIST (3 channels). */
const TRAIN = {
  grey: [
    '--preset',
    'small',
    '--T',
    '4',
    '--enc',
    '32',
    '--dec',
    '32',
    '--z',
    '8',
    '--batch',
    '20',
    '--steps',
    '20',
    '--lr',
    '0.01',
    '--val-images',
    '20',
  ],
  colour: [
    '--dataset',
    'colour-mnist',
    '--T',
    '3',
    '--enc',
    '16',
    '--dec',
    '16',
    '--z',
    '4',
    '--batch',
    '10',
    '--steps',
    '5',
    '--val-images',
    '10',
  ],
} as const;

export const exportFixture = (data: keyof typeof TRAIN = 'grey'): ExportFixture => {
  const dir = mkdtempSync(join(tmpdir(), 'draw-export-'));
  const out = join(dir, 'export');
  const checkpoint = join(dir, 'run', 'checkpoint.safetensors');
  const build = async () => {
    await train(parseFlags(['train', ...TRAIN[data], '--out', join(dir, 'run'), '--json']).flags);
    const exported = await exportCommand(parseFlags(['export', '--checkpoint', checkpoint, '--out', out]).flags);
    // where an export is copied, `npm install` puts gpu.js next to it; here the repository's copy serves
    symlinkSync(resolve('node_modules'), join(out, 'node_modules'));
    return { runtime: (await import(join(out, 'runtime.mjs'))) as typeof Runtime, exported };
  };
  return { dir, out, checkpoint, build };
};

/** A ReadFile over the files of `folder`. */
export const readFrom =
  (folder: string) =>
  async (name: string): Promise<ArrayBuffer> => {
    const b = readFileSync(join(folder, name));
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  };

/** What the library's own generate, compiled for the CPU, draws from `checkpoint` with the noise the runtime draws for `seed`, scaled by `temperature`. */
export const libraryDrawing = (
  checkpoint: string,
  seed: number,
  count: number,
  temperature = 1,
): Record<string, Float32Array> => {
  const { model, state } = loadRun(checkpoint);
  const c = model.config;
  const eps = new Float32Array(c.T * count * c.zSize);
  fillNormal(seedRng(seed), eps);
  const gen = compileOrThrow(
    trace((xs: Readonly<Record<string, Tensor>>) => model.generate(xs, { eps: xs.eps }), model.generateSpecs(count)),
    'cpu',
  );
  return Object.fromEntries(
    Object.entries(gen.run({ ...state.params, eps: eps.map((e) => e * temperature) })).map(([k, v]) => [k, v.slice()]),
  );
};

/** Images [count, channels·pixels] as RGB planes per image, as a page shows them: a grey image's one plane three times. */
export const asRgbPlanes = (images: ArrayLike<number>, count: number, channels: number): number[] => {
  const per = images.length / count;
  return Array.from({ length: count }, (_, n) => Array.from(images).slice(n * per, (n + 1) * per)).flatMap((image) =>
    channels === 3 ? image : [...image, ...image, ...image],
  );
};

export const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
