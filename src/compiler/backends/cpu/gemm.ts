// Instances of the WebAssembly sgemm (gemm-wat.ts): each over its own WebAssembly.Memory, with a bump
// allocator for operand and result regions and argument checks before every call.
//
// Memory: `alloc(n)` is a bump allocator (16-byte aligned, offsets in floats) that grows the memory
// when needed. Growth detaches old views of a non-shared memory: always take views via `f32()`
// (cheap; refreshed only after growth), or pass `maxFloats` to `createGemm` to reserve everything
// up front (then views stay valid as long as allocations stay within that reservation).
// Optional threads: createThreadedGemm in gemm-threads.ts.
import { packedSizeA, packedSizeB } from './gemm-packing.ts';
import { SCRATCH_BYTES, defaultConfig, gemmWat, type KernelConfig } from './gemm-wat.ts';
import { assemble } from './wasm-assemble.ts';
import { relaxedSimd } from './wasm-relaxed.ts';

export interface Gemm {
  readonly memory: WebAssembly.Memory;
  /** A Float32Array over the whole memory, refreshed only when the memory has grown. */
  f32(): Float32Array;
  /** Reserves n floats (16-byte aligned); returns the offset in floats. May grow the memory. */
  alloc(nFloats: number): number;
  /** Frees everything allocated so far (offsets become invalid). */
  reset(): void;
  /** Floats handed out so far (the allocator's top). */
  used(): number;
  /**
   * C (+)= A·B. a: packed A (packedSizeA), b: packed B (packedSizeB), c: row-major with stride ldc.
   * All offsets in floats, as returned by alloc.
   */
  gemm(a: number, b: number, c: number, M: number, N: number, K: number, ldc?: number, accumulate?: boolean): void;
  /**
   * `batch` independent products; slice s uses a + s*strideA, b + s*strideB, c + s*strideC.
   * Strides default to packed sizes (A, B) and M*ldc (C). A zero stride reuses one operand.
   */
  gemmBatched(
    batch: number,
    a: number,
    b: number,
    c: number,
    M: number,
    N: number,
    K: number,
    opts?: { strideA?: number; strideB?: number; strideC?: number; ldc?: number; accumulate?: boolean },
  ): void;
}

export interface GemmOptions {
  /** Reserve this many floats up front (views stay valid while allocations fit). */
  maxFloats?: number;
  /** Use a shared memory (SharedArrayBuffer), e.g. to hand it to worker threads. */
  shared?: boolean;
}

const PAGE = 65536;
const MAX_PAGES = 65536;

export interface GemmExports {
  gemm(
    a: number,
    b: number,
    c: number,
    M: number,
    N: number,
    K: number,
    ldc: number,
    accum: number,
    scratch: number,
  ): void;
  gemm_batched(
    batch: number,
    a: number,
    b: number,
    c: number,
    M: number,
    N: number,
    K: number,
    ldc: number,
    accum: number,
    sa: number,
    sb: number,
    sc: number,
    scratch: number,
  ): void;
}

const checkInt = (...xs: number[]): void => {
  for (const x of xs)
    if (!Number.isInteger(x) || x < 0 || x > 0x3fffffff) throw new RangeError(`wasm-gemm: bad size/offset ${x}`);
};

/** Argument checks shared by the single- and multi-threaded paths; returns the batched strides. */
export const checkGemmArgs = (
  memFloats: number,
  batch: number,
  a: number,
  b: number,
  c: number,
  M: number,
  N: number,
  K: number,
  ldc: number,
  sa: number,
  sb: number,
  sc: number,
): void => {
  checkInt(batch, a, b, c, M, N, K, ldc, sa, sb, sc);
  if (ldc < N) throw new RangeError(`wasm-gemm: ldc ${ldc} < N ${N}`);
  if (batch === 0 || M === 0 || N === 0) return;
  const last = batch - 1;
  const ends: [string, number][] = [
    ['A', a + last * sa + (K > 0 ? packedSizeA(M, K) : 0)],
    ['B', b + last * sb + (K > 0 ? packedSizeB(K, N) : 0)],
    ['C', c + last * sc + (M - 1) * ldc + N],
  ];
  for (const [what, end] of ends)
    if (end > memFloats)
      throw new RangeError(`wasm-gemm: ${what} runs past the end of memory (${end} > ${memFloats} floats)`);
  if (Math.min(a, b, c) * 4 < SCRATCH_BYTES)
    throw new RangeError('wasm-gemm: offsets below the scratch area (use alloc)');
};

export const instantiateGemm = (
  module: WebAssembly.Module,
  opts: GemmOptions,
): Gemm & { readonly exports: GemmExports } => {
  const initialPages = Math.max(1, Math.ceil((SCRATCH_BYTES + 4 * (opts.maxFloats ?? 0) + 16) / PAGE));
  const memory = new WebAssembly.Memory(
    opts.shared ? { initial: initialPages, maximum: MAX_PAGES, shared: true } : { initial: initialPages },
  );
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
  let top = SCRATCH_BYTES; // bytes
  let view = new Float32Array(memory.buffer);
  const f32 = (): Float32Array => {
    if (view.buffer !== memory.buffer || view.length * 4 !== memory.buffer.byteLength)
      view = new Float32Array(memory.buffer);
    return view;
  };
  const memFloats = (): number => memory.buffer.byteLength / 4;
  return {
    memory,
    exports: ex,
    f32,
    alloc: (n) => {
      checkInt(n);
      const start = top;
      const end = start + ((4 * n + 15) & ~15);
      const have = memory.buffer.byteLength;
      if (end > have) {
        const pages = Math.ceil((end - have) / PAGE);
        if (have / PAGE + pages > MAX_PAGES)
          throw new RangeError(`wasm-gemm: cannot allocate ${n} floats (4 GiB limit)`);
        memory.grow(pages);
      }
      top = end;
      return start / 4;
    },
    reset: () => {
      top = SCRATCH_BYTES;
    },
    used: () => top / 4,
    gemm: (a, b, c, M, N, K, ldc = N, accumulate = false) => {
      checkGemmArgs(memFloats(), 1, a, b, c, M, N, K, ldc, 0, 0, 0);
      ex.gemm(a, b, c, M, N, K, ldc, accumulate ? 1 : 0, 0);
    },
    gemmBatched: (batch, a, b, c, M, N, K, o = {}) => {
      const ldc = o.ldc ?? N;
      const sa = o.strideA ?? packedSizeA(M, K),
        sb = o.strideB ?? packedSizeB(K, N),
        sc = o.strideC ?? M * ldc;
      checkGemmArgs(memFloats(), batch, a, b, c, M, N, K, ldc, sa, sb, sc);
      ex.gemm_batched(batch, a, b, c, M, N, K, ldc, o.accumulate ? 1 : 0, sa, sb, sc, 0);
    },
  };
};

/** The configuration createGemm uses here: the default, with fused multiply-add where relaxed SIMD is available. */
export const bestConfig = (shared = false): KernelConfig => ({ ...defaultConfig, shared, fma: relaxedSimd() });

/** The compiled kernel module for `cfg` (assembled once per process). */
export const gemmModule = (cfg: KernelConfig = bestConfig()): WebAssembly.Module => assemble(gemmWat(cfg));

/** A kernel instance over a fresh memory. */
export const createGemm = (opts: GemmOptions = {}): Gemm =>
  instantiateGemm(gemmModule(bestConfig(!!opts.shared)), opts);

/** For experiments: an instance of a non-default kernel configuration. */
export const createGemmWith = (cfg: KernelConfig, opts: GemmOptions = {}): Gemm =>
  instantiateGemm(gemmModule(cfg), opts);
