// Runs a gpu.js plan: the kernels of a lowered graph as plain data (sources, output sizes and the
// order they run in). The library's gpujs backend and an exported generator both run plans with
// this file's runners, so an export computes exactly what the library computes. It imports nothing:
// the caller brings the gpu.js instance, so the same code runs in Node and in a browser.
import type { GPU, IGPUKernelSettings, IKernelRunShortcut, Texture } from 'gpu.js';
import { BoundedCache, KERNEL_CACHE_LIMIT } from '../../cache.ts';

export interface GpujsPlan {
  readonly format: 'draw-ts/gpujs-plan/2';
  /**
   * Distinct kernels. `kinds` says per argument whether it is an input array ('a') or a texture ('t');
   * a kernel with `outputs` > 1 writes its j-th value by calling `writeOutput(j)` (a gpu.js kernel map).
   */
  readonly kernels: readonly {
    readonly source: string;
    readonly size: number;
    readonly kinds: string;
    readonly outputs: number;
  }[];
  readonly inputs: readonly { readonly name: string; readonly id: number; readonly size: number }[];
  readonly outputs: readonly { readonly name: string; readonly id: number }[];
  /**
   * In order: which kernel computes buffer `root` (and `siblings`, its further outputs) from buffers
   * `reads`; `free` lists buffers read for the last time.
   */
  readonly steps: readonly {
    readonly kernel: number;
    readonly root: number;
    readonly siblings: readonly number[];
    readonly reads: readonly number[];
    readonly free: readonly number[];
  }[];
}

export interface PlanRunner {
  /** Outputs by name, copied to host arrays. */
  run(feeds: Readonly<Record<string, ArrayLike<number>>>): Record<string, Float32Array>;
  /** The gpu.js kernel class that ran last, e.g. 'WebGL2Kernel', 'HeadlessGLKernel' or 'CPUKernel'. */
  ran(): string;
  dispose(): void;
}

/**
 * A plan run whose state stays on the device: each carried output (an optimiser's new parameters,
 * say) is the next run's value of its input, kept as a texture, so a run reads back only what it
 * is asked for. A run's carried outputs wait until `accept`: a caller that finds the run's result
 * bad (a non-finite loss) leaves the state as it was.
 */
export interface ResidentRunner {
  /** Runs on the carried state and `feeds` (every other input); returns the outputs named in `read`, on the host. */
  run(feeds: Readonly<Record<string, ArrayLike<number>>>, read: readonly string[]): Record<string, Float32Array>;
  /** The last run's carried outputs become the state. */
  accept(): void;
  /** The state by input name, on the host. */
  state(): Record<string, Float32Array>;
  ran(): string;
  dispose(): void;
}

export interface RunnerOptions {
  /** Results stay textures between kernels (gpu.js `pipeline`); false on gpu.js's CPU mode. */
  readonly onDevice: boolean;
  /** Compiled kernels shared between programs. */
  readonly cache?: KernelCache;
  /** Milliseconds per plan step, added to on each run; each kernel is then waited for (gl.finish). */
  readonly timing?: Float64Array;
  /** Called for each kernel built (not found in the cache). */
  readonly onBuilt?: () => void;
}

/** The most outputs a kernel may have: WebGL fails on textures past 16384². */
export const MAX_OUTPUT = 16384 * 16384;

/** The most values one kernel writes: WebGL2 guarantees 4 draw buffers. */
export const MAX_VALUES = 4;

/** What a multi-output kernel's source calls to write its value j ≥ 1 (a gpu.js sub-kernel, `function outJ(v)`). */
export const writeOutput = (j: number): string => `out${j}`;

/** gpu.js's `createKernelMap` as called here, with sources as strings (which it reads; its types say functions). */
type KernelMapOfSources = (
  subKernels: Record<string, string>,
  source: string,
  settings: IGPUKernelSettings,
) => IKernelRunShortcut;

/** The name of a kernel map's result j ≥ 1: what the source passes to `writeOutput(j)`. */
const resultName = (j: number): string => `v${j}`;

/** A kernel map's sub-kernels by result name. */
const subKernels = (outputs: number): Record<string, string> =>
  Object.fromEntries(
    Array.from({ length: outputs - 1 }, (_, i) => [
      resultName(i + 1),
      `function ${writeOutput(i + 1)}(v) { return v; }`,
    ]),
  );

/** gpu.js's WebGL kernel classes: anything else is a CPU or WebAssembly fallback. */
export const isWebGLKernel = (name: string): boolean =>
  ['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel'].includes(name);

export type KernelCache = BoundedCache<string, IKernelRunShortcut>;

type Value = Float32Array | Texture;
const isTexture = (v: Value | undefined): v is Texture => !!v && !(v instanceof Float32Array);
const free = (v: Value | undefined) => {
  if (isTexture(v) && typeof v.delete === 'function') v.delete();
};
const toHost = (v: Value): Float32Array => (isTexture(v) ? Float32Array.from(v.toArray() as Float32Array) : v);

/**
 * `gpu` decides where kernels run; with `onDevice` results stay textures between kernels (gpu.js
 * `pipeline`, `immutable`: each call returns a fresh texture, deleted after its last reader).
 * gpu.js specialises a kernel to its argument kinds on first call, so the cache key holds them
 * with the source and output size; `textures` names the inputs that arrive as textures.
 */
const planExecutor = (plan: GpujsPlan, gpu: GPU, o: RunnerOptions, textures: ReadonlySet<number> = new Set()) => {
  const cache = o.cache ?? new BoundedCache<string, IKernelRunShortcut>(KERNEL_CACHE_LIMIT);
  const kernelFor = (source: string, size: number, kinds: string, outputs = 1) => {
    const key = `${o.onDevice}|${size}|${kinds}|${outputs}|${source}`;
    let kernel = cache.get(key);
    if (!kernel) {
      const settings: IGPUKernelSettings = {
        output: [size],
        precision: 'single',
        pipeline: o.onDevice,
        immutable: o.onDevice,
        tactic: 'precision',
      };
      kernel =
        outputs > 1
          ? (gpu.createKernelMap.bind(gpu) as unknown as KernelMapOfSources)(subKernels(outputs), source, settings)
          : gpu.createKernel(source, settings);
      cache.set(key, kernel);
      o.onBuilt?.();
    }
    return kernel;
  };
  const inputIds = new Set(plan.inputs.map((i) => i.id));
  const kernels = plan.steps.map(({ kernel, reads }) => {
    const { source, size, outputs } = plan.kernels[kernel];
    const kinds = reads.map((r) => (inputIds.has(r) && !textures.has(r) ? 'a' : 't')).join('');
    return kernelFor(source, size, kinds, outputs);
  });
  // gpu.js's CPU mode hands back the kernel's own output arrays: copy them, as the kernel may run again
  const own = (v: Value) => (v instanceof Float32Array ? Float32Array.from(v) : v);
  let ran = 'none';
  return {
    kernelFor,
    /** `v` as a texture on the device, by a copy kernel. */
    upload: (v: ArrayLike<number>): Texture =>
      kernelFor('function(a) { return a[this.thread.x]; }', v.length, 'a')(Float32Array.from(v)) as Texture,
    ran: () => ran,
    /** Runs every step on `values` (the inputs, then every buffer); frees what no later step or output needs. */
    execute: (values: Map<number, Value>) => {
      plan.steps.forEach((step, s) => {
        const kernel = kernels[s];
        const start = o.timing ? performance.now() : 0;
        const v = kernel(...step.reads.map((r) => values.get(r)!)) as Value | Record<string, Value>;
        if (o.timing) {
          (kernel.kernel as unknown as { context?: { finish?(): void } }).context?.finish?.();
          o.timing[s] += performance.now() - start;
        }
        if (step.siblings.length === 0) values.set(step.root, own(v as Value));
        else {
          const map = v as Record<string, Value>;
          values.set(step.root, own(map.result));
          step.siblings.forEach((id, j) => values.set(id, own(map[resultName(j + 1)])));
        }
        ran = kernel.kernel.constructor.name;
        for (const r of step.free) {
          if (textures.has(r)) continue; // the caller's
          free(values.get(r));
          values.delete(r);
        }
      });
    },
  };
};

/** `v` if it holds an input's `size` values; else the one-line error naming the input (`what`: 'input', say). */
const checkedValues = (what: string, name: string, size: number, v: ArrayLike<number> | undefined) => {
  if (!v || v.length !== size)
    throw new Error(`gpu.js plan: ${what} '${name}' needs ${size} values, got ${v ? v.length : 'none'}`);
  return v;
};

const hostInputs = (
  plan: GpujsPlan,
  feeds: Readonly<Record<string, ArrayLike<number>>>,
  values: Map<number, Value>,
  skip: ReadonlySet<number>,
) => {
  for (const { name, id, size } of plan.inputs) {
    if (skip.has(id)) continue;
    values.set(id, Float32Array.from(checkedValues('input', name, size, feeds[name])));
  }
};

/**
 * Runs `plan` on `feeds` each time. The `held` inputs (a generator's weights, say) are given once:
 * on the device they are uploaded once and stay textures until `dispose`.
 */
export const planRunner = (
  plan: GpujsPlan,
  gpu: GPU,
  options: RunnerOptions,
  held: Readonly<Record<string, ArrayLike<number>>> = {},
): PlanRunner => {
  const heldIds = new Map(plan.inputs.filter((i) => i.name in held).map((i) => [i.id, i]));
  const executor = planExecutor(plan, gpu, options, options.onDevice ? new Set(heldIds.keys()) : new Set());
  const heldValues = new Map<number, Value>();
  for (const [id, { name, size }] of heldIds) {
    const v = checkedValues('input', name, size, held[name]);
    heldValues.set(id, options.onDevice ? executor.upload(v) : Float32Array.from(v));
  }
  const kept = new Set(heldValues.values());
  const values = new Map<number, Value>();
  const clear = () => {
    values.forEach((v) => kept.has(v) || free(v));
    values.clear();
  };
  return {
    run: (feeds) => {
      clear();
      heldValues.forEach((v, id) => values.set(id, v));
      hostInputs(plan, feeds, values, new Set(heldIds.keys()));
      executor.execute(values);
      return Object.fromEntries(plan.outputs.map(({ name, id }) => [name, toHost(values.get(id)!)]));
    },
    ran: executor.ran,
    dispose: () => {
      clear();
      heldValues.forEach(free);
      heldValues.clear();
    },
  };
};

/**
 * A runner whose `carry` inputs (input name → the output that is its next value) live on the
 * device, starting from `initial`. Needs `onDevice` (a texture cannot outlive a CPU-mode run).
 */
export const residentRunner = (
  plan: GpujsPlan,
  gpu: GPU,
  carry: Readonly<Record<string, string>>,
  initial: Readonly<Record<string, ArrayLike<number>>>,
  options: RunnerOptions,
): ResidentRunner => {
  const inputs = new Map(plan.inputs.map((i) => [i.name, i]));
  const outputs = new Map(plan.outputs.map((o) => [o.name, o.id]));
  for (const [input, output] of Object.entries(carry)) {
    if (!inputs.has(input)) throw new Error(`gpu.js plan: carried input '${input}' is not an input any kernel reads`);
    if (!outputs.has(output)) throw new Error(`gpu.js plan: carried output '${output}' is not an output`);
  }
  const carried = new Set(Object.keys(carry).map((n) => inputs.get(n)!.id));
  const executor = planExecutor(plan, gpu, options, carried);
  const upload = (name: string, v: ArrayLike<number> | undefined): Texture => {
    return executor.upload(checkedValues('carried input', name, inputs.get(name)!.size, v));
  };
  const asTexture = (name: string, v: Value): Texture => (isTexture(v) ? v : upload(name, v));
  let state = new Map(Object.keys(carry).map((n) => [n, upload(n, initial[n])]));
  let pending: Map<string, Texture> | undefined;
  const freeUnless = (textures: Iterable<Texture>, keep: ReadonlySet<Value>) => {
    for (const t of textures) if (!keep.has(t)) free(t);
  };
  const drop = () => {
    if (pending) freeUnless(pending.values(), new Set(state.values()));
    pending = undefined;
  };
  return {
    run: (feeds, read) => {
      drop();
      const values = new Map<number, Value>();
      for (const [name, t] of state) values.set(inputs.get(name)!.id, t);
      hostInputs(plan, feeds, values, carried);
      executor.execute(values);
      const next = new Map(Object.entries(carry).map(([input, output]) => [input, values.get(outputs.get(output)!)!]));
      const result = Object.fromEntries(
        read.map((name) => {
          const id = outputs.get(name);
          if (id === undefined) throw new Error(`gpu.js plan: no output '${name}' to read`);
          return [name, toHost(values.get(id)!)];
        }),
      );
      pending = new Map([...next].map(([name, v]) => [name, asTexture(name, v)]));
      const keep = new Set<Value>([...state.values(), ...pending.values()]);
      values.forEach((v) => {
        if (!keep.has(v)) free(v);
      });
      return result;
    },
    accept: () => {
      if (!pending) return;
      freeUnless(state.values(), new Set(pending.values()));
      state = pending;
      pending = undefined;
    },
    state: () => Object.fromEntries([...state].map(([name, t]) => [name, toHost(t)])),
    ran: executor.ran,
    dispose: () => {
      drop();
      state.forEach(free);
      state.clear();
    },
  };
};
