// An optional multi-threaded sgemm over the same WebAssembly module (see gemm.ts), Node only: kept
// apart because the CPU backend runs single-threaded by default (two threads measured only ~1.2× on
// the previous machine's two vCPUs when it was quiet); bench/gemm.ts measures it.
import { Worker } from 'node:worker_threads';
import { NR, packedSizeA, packedSizeB } from './gemm-packing.ts';
import { SCRATCH_TILE, MAX_THREADS } from './gemm-wat.ts';
import { bestConfig, checkGemmArgs, gemmModule, instantiateGemm, type Gemm, type GemmOptions } from './gemm.ts';
// Optional: N split across persistent worker threads sharing the wasm memory.
//
// The instance's memory is shared (SharedArrayBuffer-backed); `threads - 1` workers instantiate the
// same module over it once and then sleep in Atomics.wait on a control block. A call writes its
// arguments there, bumps a sequence number and notifies; every thread (the caller included) runs the
// kernel on its own range of B panels (columns of C) with its own scratch tile, and the caller waits
// for the others' completion count. No thread start-up per call. Small products (under
// `minFlops`) run on the calling thread alone.

export interface ThreadedGemm extends Gemm {
  readonly threads: number;
  /** Stops the workers; the instance then runs on the calling thread only. */
  close(): Promise<void>;
}

export interface ThreadedGemmOptions extends GemmOptions {
  /** Threads in all, the caller included (default 2, at most 8). */
  threads?: number;
  /** Products with fewer flops (2·M·N·K·batch) than this run single-threaded (default 4e6). */
  minFlops?: number;
}

// Control block layout (Int32): [0] sequence, [1] done count, [2] command (1 run, 2 exit), [3] error,
// [4] workers ready, [5..17] arguments: batch a b c M N K ldc accum sa sb sc.
const CTL_SEQ = 0,
  CTL_DONE = 1,
  CTL_CMD = 2,
  CTL_ERR = 3,
  CTL_READY = 4,
  CTL_ARGS = 5;

/**
 * Columns [lo, hi) of thread t's share: whole nr-wide panels, split as evenly as possible. Self-
 * contained (no imported names) because its source is spliced into the worker.
 */
const share = (N: number, t: number, T: number, nr: number): [number, number] => {
  const nb = Math.ceil(N / nr);
  const lo = Math.floor((nb * t) / T) * nr,
    hi = Math.min(N, Math.floor((nb * (t + 1)) / T) * nr);
  return [lo, Math.max(lo, hi)];
};

// The worker's side; `share` and the layout constants are spliced in so there is one definition.
const threadWorkerSource = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, index, threads } = workerData;
const NR = ${NR}, SCRATCH_TILE = ${SCRATCH_TILE};
const CTL_SEQ = ${CTL_SEQ}, CTL_DONE = ${CTL_DONE}, CTL_CMD = ${CTL_CMD}, CTL_ERR = ${CTL_ERR}, CTL_READY = ${CTL_READY}, CTL_ARGS = ${CTL_ARGS};
const share = ${share.toString()};
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const ctl = new Int32Array(control);
let seen = 0;
Atomics.add(ctl, CTL_READY, 1);
Atomics.notify(ctl, CTL_READY);
for (;;) {
  Atomics.wait(ctl, CTL_SEQ, seen);
  seen = Atomics.load(ctl, CTL_SEQ);
  if (Atomics.load(ctl, CTL_CMD) === 2) break;
  try {
    const [batch, a, b, c, M, N, K, ldc, accum, sa, sb, sc] = ctl.subarray(CTL_ARGS, CTL_ARGS + 12);
    const [lo, hi] = share(N, index, threads, NR);
    if (hi > lo) ex.gemm_batched(batch, a, b + lo * K, c + lo, M, hi - lo, K, ldc, accum, sa, sb, sc, index * SCRATCH_TILE);
  } catch (e) {
    Atomics.store(ctl, CTL_ERR, 1);
  }
  Atomics.add(ctl, CTL_DONE, 1);
  Atomics.notify(ctl, CTL_DONE);
}
`;

/**
 * A Gemm whose products are split over `threads` threads (persistent workers + the caller) by
 * columns of C. Same API and memory layout as createGemm; the memory is shared. Call close() (or let
 * the process exit: the workers are unref'd) when done.
 */
export const createThreadedGemm = (opts: ThreadedGemmOptions = {}): ThreadedGemm => {
  const T = Math.max(1, Math.min(MAX_THREADS, Math.floor(opts.threads ?? 2)));
  const minFlops = opts.minFlops ?? 4e6;
  const module = gemmModule(bestConfig(true));
  const base = instantiateGemm(module, { ...opts, shared: true });
  const control = new SharedArrayBuffer(4 * (CTL_ARGS + 12));
  const ctl = new Int32Array(control);
  let workers: Worker[] = [];
  for (let t = 1; t < T; t++) {
    const w = new Worker(threadWorkerSource, {
      eval: true,
      workerData: { module, memory: base.memory, control, index: t, threads: T },
    });
    w.unref();
    workers.push(w);
  }
  // Wait (bounded) until every worker has instantiated; otherwise run single-threaded.
  const deadline = performance.now() + 30_000;
  let r: number;
  while ((r = Atomics.load(ctl, CTL_READY)) < workers.length && performance.now() < deadline)
    Atomics.wait(ctl, CTL_READY, r, 100);
  if (Atomics.load(ctl, CTL_READY) < workers.length) {
    for (const w of workers) void w.terminate();
    workers = [];
  }
  const memFloats = (): number => base.memory.buffer.byteLength / 4;

  const run = (
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
  ): void => {
    checkGemmArgs(memFloats(), batch, a, b, c, M, N, K, ldc, sa, sb, sc);
    const live = workers.length + 1;
    if (live === 1 || 2 * M * N * K * batch < minFlops || N <= NR) {
      base.exports.gemm_batched(batch, a, b, c, M, N, K, ldc, accum, sa, sb, sc, 0);
      return;
    }
    ctl.set([batch, a, b, c, M, N, K, ldc, accum, sa, sb, sc], CTL_ARGS);
    Atomics.store(ctl, CTL_DONE, 0);
    Atomics.store(ctl, CTL_ERR, 0);
    Atomics.store(ctl, CTL_CMD, 1);
    Atomics.add(ctl, CTL_SEQ, 1);
    Atomics.notify(ctl, CTL_SEQ);
    const [lo, hi] = share(N, 0, live, NR);
    try {
      if (hi > lo) base.exports.gemm_batched(batch, a, b + lo * K, c + lo, M, hi - lo, K, ldc, accum, sa, sb, sc, 0);
    } finally {
      let d: number;
      while ((d = Atomics.load(ctl, CTL_DONE)) < live - 1) Atomics.wait(ctl, CTL_DONE, d);
    }
    if (Atomics.load(ctl, CTL_ERR)) throw new Error('wasm-gemm: a worker thread failed');
  };

  return {
    ...base,
    threads: T,
    gemm: (a, b, c, M, N, K, ldc = N, accumulate = false) => run(1, a, b, c, M, N, K, ldc, accumulate ? 1 : 0, 0, 0, 0),
    gemmBatched: (batch, a, b, c, M, N, K, o = {}) => {
      const ldc = o.ldc ?? N;
      run(
        batch,
        a,
        b,
        c,
        M,
        N,
        K,
        ldc,
        o.accumulate ? 1 : 0,
        o.strideA ?? packedSizeA(M, K),
        o.strideB ?? packedSizeB(K, N),
        o.strideC ?? M * ldc,
      );
    },
    close: async () => {
      const ws = workers;
      workers = [];
      if (!ws.length) return;
      Atomics.store(ctl, CTL_CMD, 2);
      Atomics.add(ctl, CTL_SEQ, 1);
      Atomics.notify(ctl, CTL_SEQ);
      await Promise.all(
        ws.map(
          (w) =>
            new Promise<void>((resolve) => {
              w.once('exit', () => resolve());
              setTimeout(() => {
                void w.terminate();
              }, 1000).unref();
            }),
        ),
      );
    },
  };
};
