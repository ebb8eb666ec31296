// Runs a lowered graph on the CPU: its buffers live in one WebAssembly memory per program (allocated
// once), and its kernels, WebAssembly (elementwise kernels and products' epilogues, wasm-elementwise.ts)
// or generated JS (the rest; contractions calling the WebAssembly sgemm), run in order over them.
import * as E from 'fp-ts/lib/Either.js';
import { size } from '../../../dsl/shape.ts';
import { renderCpuKernel, contractionKey, contractionScratch, elementwiseLayout, packedOnce } from './render.ts';
import { renderWasmElementwise } from './wasm-elementwise.ts';
import { assemble } from './wasm-assemble.ts';
import { envVar } from '../../../util.ts';
import type { KernelSpec } from '../backend.ts';
import { createGemm, type Gemm } from './gemm.ts';
import { cpuLib, cpuLibPrelude } from './math.ts';
import { sumsOfProductsAsOne } from './passes.ts';
import { CompileError, debugKernels, type Backend, type Lowering, type Program } from '../backend.ts';
import { kernelClass } from '../../fuse.ts';
import { BoundedCache, KERNEL_CACHE_LIMIT } from '../../cache.ts';

type KernelFn = (out: Float32Array, ...args: Float32Array[]) => void;
/** A contraction kernel's regions of the sgemm's memory (float offsets), and whether to pack each operand now. */
interface Ops {
  readonly a: number;
  readonly b: number;
  readonly c: number;
  packA(): boolean;
  packB(): boolean;
  /** The epilogue as a WebAssembly kernel (reading C), where it has one. */
  readonly epilogue?: () => void;
}
type Factory = (gemm: Gemm | undefined, ops: Ops | undefined, lib: typeof cpuLib) => KernelFn;
const cache = new BoundedCache<string, Factory>(KERNEL_CACHE_LIMIT);

/**
 * The program's memory: one WebAssembly memory holding the sgemm's scratch, the operands packed once
 * per run, the arena of buffers (at the plan's offsets) and the inputs, so that WebAssembly kernels
 * read and write the same buffers the JS kernels see as views. All of it is reserved up front, so
 * the views stay valid. Contraction kernels run one after another and share scratch sized for the
 * largest; an operand that reads only graph inputs (packedOnce) gets a region of its own instead,
 * packed by the first kernel of each run that needs it.
 */
const programMemory = (specs: readonly KernelSpec[], arenaFloats: number, inputSizes: readonly number[]) => {
  const isContraction = (s: KernelSpec) => kernelClass(s.nodes, s.kernel) === 'matmul';
  const contractions = specs.filter(isContraction);
  const sizes = contractions.map(contractionScratch);
  const most = (k: 'a' | 'b' | 'c') => Math.max(0, ...sizes.map((n) => n[k]));
  const once = new Map<string, number>(); // key → floats
  contractions.forEach((s, i) => packedOnce(s).forEach((key, k) => key && once.set(key, k ? sizes[i].b : sizes[i].a)));
  const regions = [most('a'), most('b'), most('c'), ...once.values(), arenaFloats, ...inputSizes];
  const gemm = createGemm({ maxFloats: regions.reduce((a, n) => a + n + 4, 0) + 64 });
  const scratch = { a: gemm.alloc(most('a')), b: gemm.alloc(most('b')), c: gemm.alloc(most('c')) };
  let run = 0;
  const packed = new Map([...once].map(([key, n]) => [key, { at: gemm.alloc(n), packedIn: -1 }] as const));
  const view = (floats: number): Float32Array => {
    const at = gemm.alloc(floats);
    return gemm.f32().subarray(at, at + floats);
  };
  const arena = view(arenaFloats);
  const inputs = inputSizes.map(view);
  const always = () => true;
  const opsOf = (s: KernelSpec): Ops => {
    const [ka, kb] = packedOnce(s).map((key) => (key ? packed.get(key) : undefined));
    const guard = (r: { packedIn: number } | undefined) =>
      !r
        ? always
        : () => {
            if (r.packedIn === run) return false;
            r.packedIn = run;
            return true;
          };
    return { a: ka?.at ?? scratch.a, b: kb?.at ?? scratch.b, c: scratch.c, packA: guard(ka), packB: guard(kb) };
  };
  return {
    gemm,
    arena,
    inputs,
    ops: specs.map((s) => (isContraction(s) ? opsOf(s) : undefined)),
    newRun: () => {
      run++;
    },
  };
};

/**
 * Elementwise kernels (and products' epilogues) in WebAssembly unless DRAW_WASM_ELEMENTWISE=0 (then
 * all JS, for comparison): the same results bit for bit, in less time (bench/NOTES.md).
 */
const wasmElementwise = (): boolean => envVar('DRAW_WASM_ELEMENTWISE') !== '0';

const wats = new BoundedCache<string, string | undefined>(KERNEL_CACHE_LIMIT);

/** An elementwise kernel's WAT (undefined: it stays JS), rendered once per structure in this process. */
const watOf = (spec: KernelSpec, onBuilt: () => void): string | undefined => {
  const { cuts, key } = elementwiseLayout(spec);
  if (!wats.has(key)) {
    const wat = renderWasmElementwise(spec, cuts);
    wats.set(key, wat);
    if (wat !== undefined) onBuilt();
  }
  return wats.get(key);
};

const contractionSources = new BoundedCache<string, string>(KERNEL_CACHE_LIMIT);

/** A JS kernel's source; a contraction's rendered once per structure in this process (contractionKey). */
const sourceOf = (spec: KernelSpec, contraction: boolean): string => {
  if (!contraction) return renderCpuKernel(spec);
  const key = contractionKey(spec);
  let source = contractionSources.get(key);
  if (source === undefined) contractionSources.set(key, (source = renderCpuKernel(spec)));
  return source;
};

/** Where a kernel's buffers are: as views (for a JS kernel) or as byte offsets into the memory (for a WebAssembly one). */
interface Buffers {
  view(id: number): Float32Array;
  byteOffset(id: number): number;
}

/** A kernel as a call: its WebAssembly function over byte offsets where it has one, else its JS function over views. */
const kernelCall = (
  spec: KernelSpec,
  memory: WebAssembly.Memory,
  gemm: Gemm,
  ops: Ops | undefined,
  buffers: Buffers,
  wasm: boolean,
  instances: Map<WebAssembly.Module, WebAssembly.Instance>,
  onBuilt: () => void,
): { call: () => void; wasm: boolean } => {
  const { root, reads } = spec.kernel;
  const isReduce = spec.kernel.reduction !== undefined && ops === undefined;
  const wat = !isReduce && wasm ? watOf(spec, onBuilt) : undefined;
  const wasmCall = (text: string, extra: number[]) => {
    const module = assemble(text);
    let instance = instances.get(module);
    if (!instance) instances.set(module, (instance = new WebAssembly.Instance(module, { env: { memory } })));
    const fn = instance.exports.kernel as (...offsets: number[]) => void;
    const offsets = [buffers.byteOffset(root), ...reads.map(buffers.byteOffset), ...extra];
    return () => fn(...offsets);
  };
  if (wat !== undefined && ops === undefined) return { call: wasmCall(wat, []), wasm: true };
  if (wat !== undefined) ops = { ...ops!, epilogue: wasmCall(wat, [ops!.c * 4]) };
  const source = sourceOf(spec, ops !== undefined);
  if (debugKernels())
    console.log(`// kernel ${spec.kernel.root} ${spec.nodes[spec.kernel.root].op} [${spec.kernel.shape}]\n${source}`);
  let factory = cache.get(source);
  if (!factory) {
    factory = new Function('gemm', 'ops', 'lib', `${cpuLibPrelude}\n${source}`) as Factory;
    cache.set(source, factory);
    onBuilt();
  }
  const fn = factory(gemm, ops, cpuLib);
  const [out, args] = [buffers.view(root), reads.map(buffers.view)];
  return { call: () => fn(out, ...args), wasm: false };
};

export const cpuBackend: Backend = {
  prepare: sumsOfProductsAsOne,
  lower: (l: Lowering) => {
    const specs = l.kernels.map((kernel) => ({ nodes: l.nodes, mat: l.mat, kernel }));
    const inputIds = [...l.graph.inputs.values()];
    let memory: ReturnType<typeof programMemory>;
    try {
      memory = programMemory(
        specs,
        l.plan.totalElements,
        inputIds.map((id) => size(l.nodes[id].shape)),
      );
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      return E.left(
        new CompileError(
          `compile: the program's buffers (${(l.plan.totalElements / 2 ** 28).toFixed(1)} GiB) do not fit in one WebAssembly memory (4 GiB)`,
        ),
      );
    }
    const { gemm, arena, ops, newRun } = memory;
    const inputs = new Map([...l.graph.inputs.keys()].map((name, i) => [name, memory.inputs[i]] as const));
    const inputOf = new Map(inputIds.map((id, i) => [id, memory.inputs[i]] as const));
    const bufferOf = (id: number): Float32Array =>
      inputOf.get(id) ?? arena.subarray(l.plan.offsetOf.get(id)!, l.plan.offsetOf.get(id)! + size(l.nodes[id].shape));
    // views are made only for JS kernels: a WebAssembly one needs offsets (a T=64 step reads ~30K buffers)
    const buffers: Buffers = {
      view: bufferOf,
      byteOffset: (id) => inputOf.get(id)?.byteOffset ?? arena.byteOffset + 4 * l.plan.offsetOf.get(id)!,
    };
    const inWasmOn = wasmElementwise();
    let built = 0;
    let inWasm = 0;
    const instances = new Map<WebAssembly.Module, WebAssembly.Instance>();
    const profile: Record<string, { ms: number; calls: number }> = {};
    const kernelMs = new Float64Array(l.kernels.length);
    const steps = l.kernels.map((k, i) => {
      const { call, wasm } = kernelCall(
        specs[i],
        gemm.memory,
        gemm,
        ops[i],
        buffers,
        inWasmOn,
        instances,
        () => built++,
      );
      if (wasm) inWasm++;
      if (!l.options.profile) return call;
      const entry = (profile[kernelClass(l.nodes, k)] ??= { ms: 0, calls: 0 });
      return () => {
        const t0 = performance.now();
        call();
        const ms = performance.now() - t0;
        entry.ms += ms;
        kernelMs[i] += ms;
        entry.calls++;
      };
    });
    const outputs = [...l.graph.outputs].map(([name, id]) => [name, bufferOf(id)] as const);
    const program: Program = {
      backend: 'cpu',
      mode: 'js',
      graph: l.graph,
      stats: { kernels: steps.length, built, cached: steps.length - built, buffers: l.plan, webAssembly: inWasm },
      run: (feeds) => {
        l.check(feeds);
        for (const [name, buf] of inputs) buf.set(feeds[name]);
        newRun();
        if (l.options.poison) arena.fill(NaN);
        for (const step of steps) step();
        return Object.fromEntries(outputs);
      },
      profile: () => profile,
      kernelMs: () => kernelMs,
      dispose: () => undefined,
    };
    return E.right(program);
  },
};
