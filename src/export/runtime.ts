// The exported generator's runtime (bundled into DIR/runtime.mjs by `draw export`): loads the
// manifest, program and weights, checks them, and draws digits with the library's own plan runner.
// Every file is checked before anything in it is used (manifest.ts, plan.ts, agreement.ts): a bad
// folder rejects with a GeneratorError naming the file and the field, before any kernel is built.
// It imports no package: the caller passes a gpu.js instance (Node: `new GPU()` from the gpu.js
// package; browser: `new GPU()` from gpu-browser.js), so the only dependency is gpu.js.
import type { GPU } from 'gpu.js';
import { planRunner, isWebGLKernel } from '../compiler/backends/gpujs/runner.ts';
import { fillNormal, seedRng } from '../dsl/rng.ts';
import { glimpseBox, type GlimpseBox } from '../models/draw/glimpse.ts';
import { GeneratorError, sha256 } from './fields.ts';
import { parseManifest, type FileEntry, type Manifest } from './manifest.ts';
import { parsePlan } from './plan.ts';
import { checkAgreement } from './agreement.ts';

export { GeneratorError } from './fields.ts';
export { MANIFEST_FORMAT, manifestText, type Manifest, type ManifestBody, type TensorEntry } from './manifest.ts';

export interface Drawing {
  readonly count: number;
  readonly T: number;
  /** σ(c_t) for every step: [T, count, C·B·A]. */
  readonly canvas: Float32Array;
  /** The write attention per step, [T, count] each: gx, gy (1-based), delta, sigma, gamma. Empty without write attention. */
  readonly write: Readonly<Record<string, Float32Array>>;
  /** The finished images, [count, C·B·A]. */
  readonly images: Float32Array;
  /** Step t's canvas of image n. */
  frame(t: number, n: number): Float32Array;
  /** Step t's write glimpse of image n. */
  box(t: number, n: number): GlimpseBox | undefined;
}

export interface Generator {
  readonly manifest: Manifest;
  /** The noise `generate({ seed })` uses: standard normal [T, count, zSize] from the library's seeded generator. */
  noise(seed: number, count: number): Float32Array;
  /**
   * Draws `count` images from `eps` (default: `noise(seed, count)`) scaled by `temperature` (default 1;
   * below 1 draws nearer the prior's centre: cleaner images, less variety).
   */
  generate(opts: {
    readonly count: number;
    readonly seed?: number;
    readonly eps?: Float32Array;
    readonly temperature?: number;
  }): Drawing;
  /** The gpu.js kernel class the last run used ('WebGL2Kernel', 'HeadlessGLKernel', 'CPUKernel', ...). */
  kernel(): string;
  /** Whether that kernel is WebGL (and not a CPU or WebAssembly fallback). */
  webgl(): boolean;
  dispose(): void;
}

export type ReadFile = (name: string) => Promise<ArrayBuffer>;

const readable = async (read: ReadFile, file: string): Promise<ArrayBuffer> => {
  try {
    return await read(file);
  } catch (e) {
    throw new GeneratorError(`generator: cannot read ${file} (${(e as Error)?.message ?? e})`);
  }
};

/** The bytes of `entry.file`, which must hash to `entry.sha256` (and be `bytes` long, when given: checked first, as it is cheaper). */
const verified = async (read: ReadFile, entry: FileEntry & { readonly bytes?: number }): Promise<ArrayBuffer> => {
  const b = await readable(read, entry.file);
  if (entry.bytes !== undefined && b.byteLength !== entry.bytes)
    throw new GeneratorError(`generator: ${entry.file} has ${b.byteLength} bytes, manifest.json says ${entry.bytes}`);
  const got = await sha256(b);
  if (got !== entry.sha256)
    throw new GeneratorError(`generator: ${entry.file} is corrupt (sha256 ${got}, manifest.json says ${entry.sha256})`);
  return b;
};

/** The tensors, from bytes `verified` to be as long as the tensor table (which parseManifest checked) says. */
const weightsOf = (m: Manifest, bytes: ArrayBuffer): Record<string, Float32Array> => {
  const view = new DataView(bytes);
  return Object.fromEntries(
    m.weights.tensors.map(({ name, offset, length }) => [
      name,
      Float32Array.from({ length }, (_, i) => view.getFloat32(offset + 4 * i, true)),
    ]),
  );
};

/** Rows [from, from + rows) of every step of a [T, n, width] array, as [T, rows, width]; missing rows are zero. */
const rowsOf = (src: Float32Array, T: number, n: number, width: number, from: number, rows: number): Float32Array => {
  const out = new Float32Array(T * rows * width);
  const take = Math.max(0, Math.min(rows, n - from));
  for (let t = 0; t < T; t++)
    out.set(src.subarray((t * n + from) * width, (t * n + from + take) * width), t * rows * width);
  return out;
};

/** Loads a generator through `read` (file name → bytes) and runs it on `gpu`. */
export const loadGenerator = async (read: ReadFile, gpu: GPU): Promise<Generator> => {
  const m = await parseManifest(await readable(read, 'manifest.json'));
  const checked = parsePlan(await verified(read, m.program));
  checkAgreement(m, checked);
  const { plan } = checked;
  const weights = weightsOf(m, await verified(read, m.weights));
  // the weights go to the device once, and stay there for every generate
  const runner = planRunner(plan, gpu, { onDevice: (gpu as unknown as { mode?: string }).mode !== 'cpu' }, weights);
  const { T, A, B, channels, zSize, writeN } = m.config;
  const pixels = A * B * channels;
  const noise = (seed: number, count: number) => {
    const eps = new Float32Array(T * count * zSize);
    fillNormal(seedRng(seed), eps);
    return eps;
  };
  const generate: Generator['generate'] = ({ count, seed = 1, eps: given = noise(seed, count), temperature = 1 }) => {
    if (!(Number.isInteger(count) && count > 0))
      throw new GeneratorError(`generator: count must be a positive integer, got ${count}`);
    if (given.length !== T * count * zSize)
      throw new GeneratorError(`generator: eps needs ${T}×${count}×${zSize} values, got ${given.length}`);
    if (!(Number.isFinite(temperature) && temperature > 0))
      throw new GeneratorError(`generator: temperature must be a positive number, got ${temperature}`);
    const eps = temperature === 1 ? given : given.map((e) => e * temperature);
    const canvas = new Float32Array(T * count * pixels);
    const write: Record<string, Float32Array> = {};
    for (let from = 0; from < count; from += m.batch) {
      const out = runner.run({ [m.noise]: rowsOf(eps, T, count, zSize, from, m.batch) });
      const rows = Math.min(m.batch, count - from);
      // scatter this run's rows back into [T, count, …]
      const put = (dst: Float32Array, src: Float32Array, width: number) => {
        for (let t = 0; t < T; t++)
          dst.set(src.subarray(t * m.batch * width, (t * m.batch + rows) * width), (t * count + from) * width);
      };
      put(canvas, out.canvas, pixels);
      for (const [name, v] of Object.entries(out)) {
        if (!name.startsWith('write.')) continue;
        put((write[name] ??= new Float32Array(T * count)), v, 1);
      }
    }
    return {
      count,
      T,
      canvas,
      write: Object.fromEntries(Object.entries(write).map(([k, v]) => [k.slice('write.'.length), v])),
      images: canvas.slice((T - 1) * count * pixels),
      frame: (t, n) => canvas.subarray((t * count + n) * pixels, (t * count + n + 1) * pixels),
      box: (t, n) => (m.config.writeAttention ? glimpseBox(write, 'write', writeN, t, n, count) : undefined),
    };
  };
  return {
    manifest: m,
    noise,
    generate,
    kernel: runner.ran,
    webgl: () => isWebGLKernel(runner.ran()),
    dispose: runner.dispose,
  };
};
