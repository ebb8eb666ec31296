// Exports a trained generator as a folder that runs without this library:
//   manifest.json    format, config, batch, tensor table, sha256 of the two files below and its own
//   program.json     the generation graph lowered to gpu.js kernels (sources, sizes, order)
//   weights.bin      the parameters the program reads, float32 little-endian
//   runtime.mjs      loads and checks the three files, runs the kernels (src/compiler/backends/gpujs/runner.ts), no imports
//   generate.mjs     Node command: PNG grid (and drawing steps) of generated digits; needs gpu.js
//   gpu-browser.js   gpu.js's browser build, so a page can load the folder as it is
//   package.json     { dependencies: gpu.js } for `npm install` where the folder is copied
// The two modules are bundles of src/export (bundles.ts), so the export runs the same runner,
// random generator and glimpse code as the library. Every file is written atomically; the
// manifest last, so a folder whose manifest matches its files is complete.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { Tensor } from '../dsl/tensor.ts';
import { size } from '../dsl/shape.ts';
import { trace } from '../compiler/trace.ts';
import { lowerGraph } from '../compiler/compile.ts';
import { gpujsPlan } from '../compiler/backends/gpujs/program.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import type { DrawModel } from '../models/draw/index.ts';
import { GPUJS_VERSION } from '../compiler/backends/gpujs/load.ts';
import { exportBundle } from './bundles.ts';
import { MANIFEST_FORMAT, manifestText, type Manifest, type ManifestBody, type TensorEntry } from './runtime.ts';

/** A problem with what an export needs (one line, for the user to fix). */
export class ExportError extends Error {
  override name = 'ExportError';
}

/** Path of gpu.js's browser build, which every export carries (gpu.js is an optional peer dependency). */
export const gpuBrowserBuild = (): E.Either<ExportError, string> => {
  try {
    return E.right(createRequire(import.meta.url).resolve('gpu.js/dist/gpu-browser.js'));
  } catch {
    return E.left(
      new ExportError(
        `export copies gpu.js's browser build, but gpu.js is not installed: npm install gpu.js@${GPUJS_VERSION}`,
      ),
    );
  }
};

export interface ExportOptions {
  /** Images per program run (default 16). */
  readonly batch?: number;
  /** Where the weights came from (checkpoint path, step...), recorded in the manifest. */
  readonly source?: Readonly<Record<string, unknown>>;
}

export const EXPORT_FILES = [
  'manifest.json',
  'program.json',
  'weights.bin',
  'runtime.mjs',
  'generate.mjs',
  'gpu-browser.js',
  'package.json',
] as const;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Weights the program reads, packed in plan order. */
const packWeights = (
  names: readonly string[],
  params: Readonly<Record<string, Float32Array>>,
  shapes: Readonly<Record<string, readonly number[]>>,
) => {
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const name of names) {
    tensors.push({ name, shape: shapes[name], offset, length: params[name].length });
    offset += 4 * params[name].length;
  }
  const bytes = new Uint8Array(offset);
  const view = new DataView(bytes.buffer);
  tensors.forEach(({ name, offset: o }) => params[name].forEach((v, i) => view.setFloat32(o + 4 * i, v, true)));
  return { tensors, bytes };
};

/** Writes the generator of `model` with `params` into `dir`; resolves to the manifest. */
export const exportGenerator = async (
  model: DrawModel,
  params: Readonly<Record<string, Float32Array>>,
  dir: string,
  opts: ExportOptions = {},
): Promise<E.Either<Error, Manifest>> => {
  const browserBuild = gpuBrowserBuild();
  if (E.isLeft(browserBuild)) return browserBuild;
  const batch = opts.batch ?? 16;
  const c = model.config;
  const graph = trace(
    (xs: Readonly<Record<string, Tensor>>) => model.generate(xs, { eps: xs.eps }),
    model.generateSpecs(batch),
  );
  const plan = E.flatMap(
    E.flatMap(graph, (g) => lowerGraph(g, { backend: 'gpujs' })), // the gpujs backend's fusion: within WebGL's textures
    gpujsPlan,
  );
  if (E.isLeft(plan)) return plan;
  const missing = Object.keys(model.paramShapes).find((n) => params[n]?.length !== size(model.paramShapes[n]));
  if (missing) return E.left(new Error(`export: parameter '${missing}' is missing or has the wrong size`));
  const names = plan.right.inputs.map((i) => i.name).filter((n) => n !== 'eps');
  const weights = packWeights(names, params, model.paramShapes);
  const program = new TextEncoder().encode(JSON.stringify(plan.right));
  const body: ManifestBody = {
    format: MANIFEST_FORMAT,
    config: c,
    batch,
    noise: 'eps',
    weights: {
      file: 'weights.bin',
      bytes: weights.bytes.length,
      sha256: sha256(weights.bytes),
      tensors: weights.tensors,
    },
    program: { file: 'program.json', sha256: sha256(program) },
    source: opts.source ?? {},
  };
  const manifest: Manifest = { ...body, sha256: sha256(new TextEncoder().encode(manifestText(body))) };
  mkdirSync(dir, { recursive: true });
  const put = (name: string, bytes: Uint8Array) => writeFileAtomic(join(dir, name), bytes, name);
  put('weights.bin', weights.bytes);
  put('program.json', program);
  put('runtime.mjs', await exportBundle('runtime.mjs'));
  put('generate.mjs', await exportBundle('generate.mjs'));
  put(
    'package.json',
    new TextEncoder().encode(
      `${JSON.stringify({ name: 'draw-generator', private: true, type: 'module', dependencies: { 'gpu.js': GPUJS_VERSION } }, null, 2)}\n`,
    ),
  );
  copyFileSync(browserBuild.right, join(dir, 'gpu-browser.js.tmp'));
  renameSync(join(dir, 'gpu-browser.js.tmp'), join(dir, 'gpu-browser.js'));
  put('manifest.json', new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
  return E.right(manifest);
};
