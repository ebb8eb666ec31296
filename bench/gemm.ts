// Matrix-multiply micro-benchmark for the CPU backend: naive JS, the 4×4 register-blocked plain-JS
// kernel the backend generated before (baseline), and the WebAssembly SIMD kernel (gemm-wat.ts), with
// and without the JS-side packing. Shapes are DRAW's 100×{520,356,256}·…×1024 products and the
// transposed-operand products of their backward pass.
//
//   npx tsx bench/gemm.ts     (RUNS=15 WARMUP=3 NAIVE_RUNS=10 by default; THREADS=1 drops the threaded column)
//
// Prints a table (median ms and GFLOP/s, methods interleaved round by round so machine load hits all
// alike), then one JSON line with the numbers.
import { createThreadedGemm } from '../src/compiler/backends/cpu/gemm-threads.ts';
import { createGemm } from '../src/compiler/backends/cpu/gemm.ts';
import {
  packCodeA,
  packCodeB,
  packIndexExprA,
  packIndexExprB,
  packedSizeA,
  packedSizeB,
} from '../src/compiler/backends/cpu/gemm-packing.ts';

const RUNS = Number(process.env.RUNS ?? 15);
const WARMUP = Number(process.env.WARMUP ?? 3);
const NAIVE_RUNS = Number(process.env.NAIVE_RUNS ?? 10);

interface Case {
  name: string;
  M: number;
  K: number;
  N: number;
  /** JS expressions reading operand arrays `A`, `B` at (i, k) and (k, j). */
  a: string;
  b: string;
  aLen: number;
  bLen: number;
}

const cases: Case[] = [];
for (const H of [520, 356, 256]) {
  cases.push({
    name: `100x${H}·${H}x1024`,
    M: 100,
    K: H,
    N: 1024,
    a: `A[i * ${H} + k]`,
    b: `B[k * 1024 + j]`,
    aLen: 100 * H,
    bLen: H * 1024,
  });
  // dW = Xᵀ·dY: X stored 100×H, so A(i, k) = X[k][i]
  cases.push({
    name: `${H}x100·100x1024 (Aᵀ)`,
    M: H,
    K: 100,
    N: 1024,
    a: `A[k * ${H} + i]`,
    b: `B[k * 1024 + j]`,
    aLen: 100 * H,
    bLen: 100 * 1024,
  });
  // dX = dY·Wᵀ: W stored H×1024, so B(k, j) = W[j][k]
  cases.push({
    name: `100x1024·1024x${H} (Bᵀ)`,
    M: 100,
    K: 1024,
    N: H,
    a: `A[i * 1024 + k]`,
    b: `B[j * 1024 + k]`,
    aLen: 100 * 1024,
    bLen: H * 1024,
  });
}

type Fn = (out: Float32Array, A: Float32Array, B: Float32Array) => void;
const build = (src: string): Fn => new Function(src)() as Fn;

const naive = ({ M, K, N, a, b }: Case): Fn =>
  build(`return function(out, A, B) {
  for (let i = 0; i < ${M}; i++) for (let j = 0; j < ${N}; j++) {
    let acc = 0;
    for (let k = 0; k < ${K}; k++) acc += ${a} * ${b};
    out[i * ${N} + j] = acc;
  }
};`);

// The backend's current contraction kernel (src/compiler/backends/cpu/render.ts), with an identity epilogue.
const js4x4 = ({ M, K, N, a, b }: Case): Fn => {
  const MB = Math.ceil(M / 4),
    NB = Math.ceil(N / 4);
  const rc = [0, 1, 2, 3].flatMap((i) => [0, 1, 2, 3].map((j) => [i, j] as const));
  return build(`const pa = new Float32Array(${MB * 4 * K}), pb = new Float32Array(${NB * 4 * K}), tile = new Float32Array(16);
return function(out, A, B) {
  for (let i = 0; i < ${M}; i++) for (let k = 0; k < ${K}; k++) pa[(((i >> 2) * ${K} + k) << 2) + (i & 3)] = ${a};
  for (let k = 0; k < ${K}; k++) for (let j = 0; j < ${N}; j++) pb[(((j >> 2) * ${K} + k) << 2) + (j & 3)] = ${b};
  for (let jb = 0; jb < ${NB}; jb++) for (let ib = 0; ib < ${MB}; ib++) {
    ${rc.map(([i, j]) => `let c${i}${j} = 0;`).join(' ')}
    let pA = ib * ${4 * K}, pB = jb * ${4 * K};
    for (let k = 0; k < ${K}; k++, pA += 4, pB += 4) {
      const x0 = pa[pA], x1 = pa[pA + 1], x2 = pa[pA + 2], x3 = pa[pA + 3];
      const y0 = pb[pB], y1 = pb[pB + 1], y2 = pb[pB + 2], y3 = pb[pB + 3];
      ${rc.map(([i, j]) => `c${i}${j} += x${i} * y${j};`).join(' ')}
    }
    ${rc.map(([i, j]) => `tile[${i * 4 + j}] = c${i}${j};`).join(' ')}
    for (let ii = 0; ii < 4; ii++) {
      const i = ib * 4 + ii;
      if (i >= ${M}) break;
      for (let jj = 0; jj < 4; jj++) {
        const j = jb * 4 + jj;
        if (j >= ${N}) break;
        out[i * ${N} + j] = tile[ii * 4 + jj];
      }
    }
  }
};`);
};

// What a generated kernel does around wasm-gemm: pack with inlined index templates, call, read C back.
const tBuild0 = performance.now();
const g = createGemm();
const tBuild = performance.now() - tBuild0;
// Optional variant: N split over 2 threads (a persistent worker + the caller) on a shared memory.
const THREADS = Number(process.env.THREADS ?? 2);
const tg = THREADS > 1 ? createThreadedGemm({ threads: THREADS }) : undefined;
const threadedMul = ({ M, K, N }: Case, A: Float32Array, B: Float32Array, a: string, b: string): (() => void) => {
  if (!tg) return () => undefined;
  tg.reset();
  const pa = tg.alloc(packedSizeA(M, K)),
    pb = tg.alloc(packedSizeB(K, N)),
    pc = tg.alloc(M * N);
  const at = (expr: string, x: string, y: string, vx: string, vy: string) =>
    expr.replace(/\bi\b|\bk\b|\bj\b/g, (v) => (v === x ? vx : v === y ? vy : v));
  new Function(
    'm',
    'A',
    'B',
    `${packCodeA(M, K, 'm', `${pa}`, (i, k) => at(a, 'i', 'k', i, k))}
${packCodeB(K, N, 'm', `${pb}`, (k, j) => at(b, 'k', 'j', k, j))}`,
  )(tg.f32(), A, B);
  return () => tg.gemm(pa, pb, pc, M, N, K);
};
const wasmParts = ({ M, K, N, a, b }: Case) => {
  g.reset();
  const pa = g.alloc(packedSizeA(M, K)),
    pb = g.alloc(packedSizeB(K, N)),
    pc = g.alloc(M * N);
  const at = (expr: string, x: string, y: string, vx: string, vy: string) =>
    expr.replace(/\bi\b|\bk\b|\bj\b/g, (v) => (v === x ? vx : v === y ? vy : v));
  // panel-order packing with the packCode templates (what a generator should emit)
  const packFn = new Function(
    'gemm',
    `return function(A, B) {
  const m = gemm.f32();
  ${packCodeA(M, K, 'm', `${pa}`, (i, k) => at(a, 'i', 'k', i, k))}
  ${packCodeB(K, N, 'm', `${pb}`, (k, j) => at(b, 'k', 'j', k, j))}
};`,
  )(g) as (A: Float32Array, B: Float32Array) => void;
  // element-order packing through the packIndexExpr templates (simplest to generate)
  const packIdxFn = new Function(
    'gemm',
    `return function(A, B) {
  const m = gemm.f32();
  for (let i = 0; i < ${M}; i++) for (let k = 0; k < ${K}; k++) m[${pa} + ${packIndexExprA('i', 'k', K)}] = ${a};
  for (let k = 0; k < ${K}; k++) for (let j = 0; j < ${N}; j++) m[${pb} + ${packIndexExprB('k', 'j', K)}] = ${b};
};`,
  )(g) as (A: Float32Array, B: Float32Array) => void;
  const readFn = new Function(
    'gemm',
    `return function(out) {
  const m = gemm.f32();
  for (let i = 0; i < ${M}; i++) for (let j = 0; j < ${N}; j++) out[i * ${N} + j] = m[${pc} + i * ${N} + j];
};`,
  )(g) as (out: Float32Array) => void;
  const mul = (): void => g.gemm(pa, pb, pc, M, N, K);
  const full: Fn = (out, A, B) => {
    packFn(A, B);
    mul();
    readFn(out);
  };
  const fullIdx: Fn = (out, A, B) => {
    packIdxFn(A, B);
    mul();
    readFn(out);
  };
  return { full, fullIdx, mul, pack: packFn, packIdx: packIdxFn };
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((p, q) => p - q);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const time = (f: () => void): number => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

interface Row {
  shape: string;
  M: number;
  K: number;
  N: number;
  ms: Record<string, number>;
  gflops: Record<string, number>;
  maxRelErr: number;
}
const rows: Row[] = [];
const allMethods = ['naive', 'js4x4', 'wasm+pack', 'wasm+packIdx', 'wasm', 'wasm2T', 'pack', 'packIdx'] as const;
const methods = allMethods.filter((m) => m !== 'wasm2T' || tg);

for (const c of cases) {
  const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const A = rnd(c.aLen),
    B = rnd(c.bLen);
  const outs = {
    naive: new Float32Array(c.M * c.N),
    js: new Float32Array(c.M * c.N),
    wasm: new Float32Array(c.M * c.N),
    wasm2: new Float32Array(c.M * c.N),
  };
  const fNaive = naive(c),
    fJs = js4x4(c),
    w = wasmParts(c);
  const run: Record<(typeof allMethods)[number], () => void> = {
    naive: () => fNaive(outs.naive, A, B),
    js4x4: () => fJs(outs.js, A, B),
    'wasm+pack': () => w.full(outs.wasm, A, B),
    'wasm+packIdx': () => w.fullIdx(outs.wasm2, A, B),
    wasm: w.mul,
    wasm2T: tg ? threadedMul(c, A, B, c.a, c.b) : () => undefined,
    pack: () => w.pack(A, B),
    packIdx: () => w.packIdx(A, B),
  };
  const samples: Record<string, number[]> = Object.fromEntries(methods.map((m) => [m, []]));
  for (let r = 0; r < WARMUP; r++) for (const m of methods) if (m !== 'naive' || r === 0) run[m]();
  for (let r = 0; r < RUNS; r++)
    for (const m of methods) if (m !== 'naive' || r < NAIVE_RUNS) samples[m].push(time(run[m]));
  // correctness: wasm and js4x4 against the naive result (float64 accumulation there)
  let worst = 0;
  for (let x = 0; x < c.M * c.N; x++) {
    const d = Math.max(
      Math.abs(outs.wasm[x] - outs.naive[x]),
      Math.abs(outs.wasm2[x] - outs.naive[x]),
      Math.abs(outs.js[x] - outs.naive[x]),
    );
    worst = Math.max(worst, d / (Math.abs(outs.naive[x]) + 1));
  }
  const flop = 2 * c.M * c.N * c.K;
  const ms = Object.fromEntries(methods.map((m) => [m, +median(samples[m]).toFixed(3)]));
  const gflops = Object.fromEntries(
    methods.filter((m) => !m.startsWith('pack')).map((m) => [m, +(flop / ms[m] / 1e6).toFixed(2)]),
  );
  rows.push({ shape: c.name, M: c.M, K: c.K, N: c.N, ms, gflops, maxRelErr: worst });
}

const pad = (s: string, n: number): string => s.padStart(n);
console.log(`wasm-gemm build (WAT encode + compile + instantiate): ${tBuild.toFixed(0)} ms`);
console.log(`median of ${RUNS} runs (naive ${NAIVE_RUNS}) after ${WARMUP} warm-up; ms and GFLOP/s`);
const shown = ['naive', 'js4x4', 'wasm+pack', 'wasm+packIdx', 'wasm', ...(tg ? ['wasm2T'] : [])];
const head = [
  'shape'.padEnd(24),
  ...shown.map((m) => pad(m, 15)),
  pad('pack', 6),
  pad('packIdx', 8),
  pad('speedup', 8),
];
console.log(head.join(' '));
for (const r of rows) {
  const cell = (m: string) => pad(`${r.ms[m].toFixed(2)} ${r.gflops[m].toFixed(1).padStart(5)}`, 15);
  console.log(
    [
      r.shape.padEnd(24),
      ...shown.map(cell),
      pad(r.ms.pack.toFixed(2), 6),
      pad(r.ms.packIdx.toFixed(2), 8),
      pad(`${(r.ms.js4x4 / r.ms['wasm+pack']).toFixed(1)}x`, 8),
    ].join(' '),
  );
  if (r.maxRelErr > 1e-4) console.log(`  !! ${r.shape}: max relative error ${r.maxRelErr}`);
}
console.log(
  '(speedup: js4x4 / wasm+pack; wasm+pack includes packing and reading C back; pack = panel-order packCodeA/B ms,' +
    ` packIdx = element-order packIndexExpr loops ms${tg ? `; wasm2T = kernel only, N split over ${THREADS} threads` : ''})`,
);
console.log(
  JSON.stringify({ bench: 'gemm', runs: RUNS, threads: tg ? THREADS : 1, buildMs: +tBuild.toFixed(1), rows }),
);
await tg?.close();
