import { describe, expect, it } from 'vitest';
import { createThreadedGemm } from '../src/compiler/backends/cpu/gemm-threads.ts';
import { bestConfig, createGemm, createGemmWith, gemmModule, type Gemm } from '../src/compiler/backends/cpu/gemm.ts';
import {
  MR,
  NR,
  packCodeA,
  packCodeB,
  packIndexA,
  packIndexB,
  packIndexExprA,
  packIndexExprB,
  packedSizeA,
  packedSizeB,
} from '../src/compiler/backends/cpu/gemm-packing.ts';
import { defaultConfig, gemmWat } from '../src/compiler/backends/cpu/gemm-wat.ts';
import { relaxedSimd } from '../src/compiler/backends/cpu/wasm-relaxed.ts';

// Deterministic PRNG (mulberry32) so failures reproduce.
const rng = (seed: number) => () => {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const randMat = (n: number, r: () => number): Float32Array => Float32Array.from({ length: n }, () => 2 * r() - 1);

/** Packs row-major A (M×K) and B (K×N) at offsets a, b; padding slots get NaN to show they are never read into C. */
const pack = (
  g: Gemm,
  A: Float32Array,
  B: Float32Array,
  M: number,
  N: number,
  K: number,
  a: number,
  b: number,
): void => {
  const m = g.f32();
  m.fill(NaN, a, a + packedSizeA(M, K));
  m.fill(NaN, b, b + packedSizeB(K, N));
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) m[a + packIndexA(i, k, K)] = A[i * K + k];
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) m[b + packIndexB(k, j, K)] = B[k * N + j];
};

/** `batch` random A [M,K] and B [K,N], packed side by side into fresh regions of `g`, and room for the products. */
const packedBatch = (g: Gemm, r: () => number, batch: number, M: number, N: number, K: number) => {
  const As = Array.from({ length: batch }, () => randMat(M * K, r));
  const Bs = Array.from({ length: batch }, () => randMat(K * N, r));
  const sa = packedSizeA(M, K),
    sb = packedSizeB(K, N);
  const a = g.alloc(batch * sa),
    b = g.alloc(batch * sb),
    c = g.alloc(batch * M * N);
  for (let s = 0; s < batch; s++) pack(g, As[s], Bs[s], M, N, K, a + s * sa, b + s * sb);
  return { As, Bs, a, b, c };
};

/** Max of |C - ref| / (sum_k |A_ik||B_kj| + tiny): float32 accumulation keeps this ~K·eps at worst. */
const relErr = (
  C: Float32Array,
  c: number,
  ldc: number,
  A: Float32Array,
  B: Float32Array,
  M: number,
  N: number,
  K: number,
): number => {
  let worst = 0;
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = 0,
        mag = 0;
      for (let k = 0; k < K; k++) {
        const p = A[i * K + k] * B[k * N + j];
        s += p;
        mag += Math.abs(p);
      }
      const got = C[c + i * ldc + j];
      if (!Number.isFinite(got)) return Infinity;
      worst = Math.max(worst, Math.abs(got - s) / (mag + 1e-30));
    }
  return worst;
};
const tol = (K: number): number => 4 * Math.max(K, 1) * 2 ** -24 + 1e-7;

describe('wasm-gemm', () => {
  const g = createGemm();

  it('assembles each configuration once per process, in-process (no child process, no disk)', () => {
    expect(gemmModule(bestConfig())).toBe(gemmModule(bestConfig()));
    const again = createGemm();
    expect(again.memory).not.toBe(g.memory);
    expect(
      WebAssembly.Module.exports(gemmModule())
        .map((e) => e.name)
        .sort(),
    ).toEqual(['gemm', 'gemm_batched']);
    expect(WebAssembly.Module.imports(gemmModule()).map((d) => `${d.module}.${d.name}:${d.kind}`)).toEqual([
      'env.memory:memory',
    ]);
    expect(gemmWat()).toContain('f32x4.mul');
  });

  it('pack index functions and their expression templates agree and are bijective onto the packed region', () => {
    // every (row, col) lands on its own slot inside the packed region, the template agreeing with the function
    const expectBijective = (
      rows: number,
      cols: number,
      index: (r: number, c: number) => number,
      expr: (r: number, c: number) => number,
      packed: number,
    ) => {
      const seen = new Set<number>();
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) {
          const x = index(r, c);
          expect(expr(r, c)).toBe(x);
          expect(x).toBeLessThan(packed);
          seen.add(x);
        }
      expect(seen.size).toBe(rows * cols);
    };
    for (const [M, K, N] of [
      [1, 1, 1],
      [5, 3, 9],
      [13, 7, 17],
      [8, 4, 16],
    ]) {
      const fa = new Function('i', 'k', `return ${packIndexExprA('i', 'k', K)};`) as (i: number, k: number) => number;
      const fb = new Function('k', 'j', `return ${packIndexExprB('k', 'j', K)};`) as (k: number, j: number) => number;
      expectBijective(M, K, (i, k) => packIndexA(i, k, K), fa, packedSizeA(M, K));
      expectBijective(K, N, (k, j) => packIndexB(k, j, K), fb, packedSizeB(K, N));
    }
    // templates accept expressions, not just names
    const f = new Function('p', 'q', `return ${packIndexExprA('p + 1', 'q * 2', 10)};`) as (
      p: number,
      q: number,
    ) => number;
    expect(f(6, 3)).toBe(packIndexA(7, 6, 10));
    expect(packedSizeA(5, 3)).toBe(Math.ceil(5 / MR) * MR * 3);
    expect(packedSizeB(3, 9)).toBe(Math.ceil(9 / NR) * NR * 3);
  });

  it('packCodeA/B write exactly the packIndex layout (row-major and transposed sources)', () => {
    const r = rng(42);
    for (const [M, K, N] of [
      [1, 1, 1],
      [4, 32, 8],
      [5, 33, 9],
      [13, 70, 17],
      [37, 64, 31],
      [100, 3, 24],
    ]) {
      const A = randMat(M * K, r),
        B = randMat(K * N, r);
      const sa = packedSizeA(M, K),
        sb = packedSizeB(K, N);
      for (const transposed of [false, true]) {
        const aSrc = transposed
          ? (i: string, k: string) => `A[${k} * ${M} + ${i}]`
          : (i: string, k: string) => `A[${i} * ${K} + ${k}]`;
        const bSrc = transposed
          ? (k: string, j: string) => `B[${j} * ${K} + ${k}]`
          : (k: string, j: string) => `B[${k} * ${N} + ${j}]`;
        const At = transposed ? Float32Array.from({ length: M * K }, (_, x) => A[(x % M) * K + Math.floor(x / M)]) : A;
        const Bt = transposed ? Float32Array.from({ length: K * N }, (_, x) => B[(x % K) * N + Math.floor(x / K)]) : B;
        const run = new Function(
          'm',
          'A',
          'B',
          'base',
          `${packCodeA(M, K, 'm', 'base + 3', aSrc)}\n${packCodeB(K, N, 'm', `base + 3 + ${sa}`, bSrc)}`,
        ) as (m: Float32Array, A: Float32Array, B: Float32Array, base: number) => void;
        const m = new Float32Array(3 + sa + sb + 5).fill(NaN);
        run(m, At, Bt, 0);
        for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) expect(m[3 + packIndexA(i, k, K)]).toBe(A[i * K + k]);
        for (let k = 0; k < K; k++)
          for (let j = 0; j < N; j++) expect(m[3 + sa + packIndexB(k, j, K)]).toBe(B[k * N + j]);
        // nothing outside the two packed regions, and only padding slots inside them, is left unwritten
        const written = m.reduce((n, x) => n + (Number.isNaN(x) ? 0 : 1), 0);
        expect(written).toBe(M * K + K * N);
        expect(Number.isNaN(m[0]) && Number.isNaN(m[m.length - 1])).toBe(true);
      }
    }
  });

  it('uses fused multiply-add exactly where relaxed SIMD is available', () => {
    expect(bestConfig().fma).toBe(relaxedSimd());
    expect(gemmWat({ ...defaultConfig, fma: true })).toContain('f32x4.relaxed_madd');
    expect(gemmWat({ ...defaultConfig, fma: true })).not.toContain('f32x4.mul');
  });

  // both kernels: the one createGemm picks here, and the portable mul + add one
  it.each([
    ['createGemm', () => g],
    ['portable', () => createGemmWith(defaultConfig)],
  ] as const)('matches a float64 reference on random shapes 1..37 (edges, not tile multiples): %s', (_, make) => {
    const g = make();
    const r = rng(1234);
    const shapes: number[][] = [
      [1, 1, 1],
      [37, 37, 37],
      [4, 8, 1],
      [5, 9, 2],
      [3, 7, 33],
      [36, 32, 8],
    ];
    for (let t = 0; t < 60; t++)
      shapes.push([1 + Math.floor(r() * 37), 1 + Math.floor(r() * 37), 1 + Math.floor(r() * 37)]);
    for (const [M, N, K] of shapes) {
      g.reset();
      const A = randMat(M * K, r),
        B = randMat(K * N, r);
      const a = g.alloc(packedSizeA(M, K)),
        b = g.alloc(packedSizeB(K, N));
      const c = g.alloc(M * N + 64);
      pack(g, A, B, M, N, K, a, b);
      g.f32().fill(12345, c, c + M * N + 64); // sentinel after C
      g.gemm(a, b, c, M, N, K);
      const C = g.f32();
      const e = relErr(C, c, N, A, B, M, N, K);
      expect(e, `M=${M} N=${N} K=${K}`).toBeLessThan(tol(K));
      for (let x = c + M * N; x < c + M * N + 64; x++) expect(C[x]).toBe(12345);
    }
  });

  it('honours ldc > N without touching the gap, and accumulates when asked', () => {
    const r = rng(7);
    for (const [M, N, K, ldc] of [
      [7, 13, 11, 20],
      [9, 8, 4, 9],
      [1, 3, 5, 4],
      [12, 16, 30, 17],
    ]) {
      g.reset();
      const A = randMat(M * K, r),
        B = randMat(K * N, r);
      const a = g.alloc(packedSizeA(M, K)),
        b = g.alloc(packedSizeB(K, N)),
        c = g.alloc(M * ldc);
      pack(g, A, B, M, N, K, a, b);
      g.f32().fill(-7, c, c + M * ldc);
      g.gemm(a, b, c, M, N, K, ldc);
      const C = g.f32();
      expect(relErr(C, c, ldc, A, B, M, N, K)).toBeLessThan(tol(K));
      for (let i = 0; i < M; i++) for (let j = N; j < ldc; j++) expect(C[c + i * ldc + j]).toBe(-7);
      // accumulate: C += A·B  →  2·A·B
      g.gemm(a, b, c, M, N, K, ldc, true);
      const twice = Float32Array.from(A, (x) => 2 * x);
      expect(relErr(g.f32(), c, ldc, twice, B, M, N, K)).toBeLessThan(2 * tol(K));
      for (let i = 0; i < M; i++) for (let j = N; j < ldc; j++) expect(g.f32()[c + i * ldc + j]).toBe(-7);
    }
  });

  it('K = 0 gives zeros (or leaves C alone when accumulating); empty M or N is a no-op', () => {
    g.reset();
    const c = g.alloc(6 * 5);
    g.f32().fill(3, c, c + 30);
    const a = g.alloc(1),
      b = g.alloc(1);
    g.gemm(a, b, c, 6, 5, 0, 5, true);
    expect(Array.from(g.f32().subarray(c, c + 30))).toEqual(new Array(30).fill(3));
    g.gemm(a, b, c, 6, 5, 0);
    expect(Array.from(g.f32().subarray(c, c + 30))).toEqual(new Array(30).fill(0));
    g.f32().fill(3, c, c + 30);
    g.gemm(a, b, c, 0, 5, 4);
    g.gemm(a, b, c, 6, 0, 4);
    expect(Array.from(g.f32().subarray(c, c + 30))).toEqual(new Array(30).fill(3));
  });

  it('runs batched products, including a shared (stride 0) operand', () => {
    const r = rng(99);
    for (const [batch, M, N, K] of [
      [3, 5, 9, 7],
      [4, 17, 33, 19],
      [1, 4, 8, 4],
      [2, 1, 1, 1],
    ]) {
      g.reset();
      const { As, Bs, a, b, c } = packedBatch(g, r, batch, M, N, K);
      g.gemmBatched(batch, a, b, c, M, N, K);
      for (let s = 0; s < batch; s++)
        expect(relErr(g.f32(), c + s * M * N, N, As[s], Bs[s], M, N, K)).toBeLessThan(tol(K));
      // B shared across the batch
      g.gemmBatched(batch, a, b, c, M, N, K, { strideB: 0 });
      for (let s = 0; s < batch; s++)
        expect(relErr(g.f32(), c + s * M * N, N, As[s], Bs[0], M, N, K)).toBeLessThan(tol(K));
      // padded output rows (ldc) with an explicit C stride
      const ldc = N + 3,
        sc = M * ldc + 5;
      const c2 = g.alloc(batch * sc);
      g.gemmBatched(batch, a, b, c2, M, N, K, { ldc, strideC: sc });
      for (let s = 0; s < batch; s++)
        expect(relErr(g.f32(), c2 + s * sc, ldc, As[s], Bs[s], M, N, K)).toBeLessThan(tol(K));
    }
  });

  it('grows memory on alloc; f32() hands out a fresh view afterwards', () => {
    const h = createGemm();
    const before = h.memory.buffer.byteLength;
    const v0 = h.f32();
    expect(h.f32()).toBe(v0); // cached while nothing grew
    const big = h.alloc(4 << 20); // 16 MiB
    expect(h.memory.buffer.byteLength).toBeGreaterThan(before);
    const v1 = h.f32();
    expect(v1 === v0).toBe(false);
    expect(v0.length).toBe(0); // the old view was detached by the growth
    expect(v1.length * 4).toBe(h.memory.buffer.byteLength);
    v1[big + (4 << 20) - 1] = 1;
    expect(h.used()).toBeGreaterThanOrEqual(big + (4 << 20));
    // with a reservation, views stay valid across allocations that fit
    const p = createGemm({ maxFloats: 1 << 20 });
    const pv = p.f32();
    p.alloc(1 << 19);
    p.alloc(1 << 18);
    expect(p.f32()).toBe(pv);
  });

  it('rejects out-of-range operands instead of trapping', () => {
    const h = createGemm();
    const a = h.alloc(packedSizeA(4, 4)),
      b = h.alloc(packedSizeB(4, 8)),
      c = h.alloc(32);
    expect(() => h.gemm(a, b, c, 4, 8, 4)).not.toThrow();
    expect(() => h.gemm(a, b, c, 4, 8, 4, 7)).toThrow(/ldc/);
    expect(() => h.gemm(a, b, h.memory.buffer.byteLength / 4 - 10, 4, 8, 4)).toThrow(/C runs past/);
    expect(() => h.gemm(a, b, c, 4, 8, 4.5)).toThrow(RangeError);
    expect(() => h.gemm(0, b, c, 4, 8, 4)).toThrow(/scratch/);
  });

  it('computes the large 100×520 · 520×1024 case', () => {
    const [M, K, N] = [100, 520, 1024];
    const r = rng(5);
    const A = randMat(M * K, r),
      B = randMat(K * N, r);
    g.reset();
    const a = g.alloc(packedSizeA(M, K)),
      b = g.alloc(packedSizeB(K, N)),
      c = g.alloc(M * N);
    pack(g, A, B, M, N, K, a, b);
    g.gemm(a, b, c, M, N, K);
    // full check against a float64 reference (i-k-j order for speed)
    const ref = new Float64Array(M * N),
      mag = new Float64Array(M * N);
    for (let i = 0; i < M; i++)
      for (let k = 0; k < K; k++) {
        const x = A[i * K + k];
        for (let j = 0; j < N; j++) {
          const p = x * B[k * N + j];
          ref[i * N + j] += p;
          mag[i * N + j] += Math.abs(p);
        }
      }
    const C = g.f32();
    let worst = 0;
    for (let x = 0; x < M * N; x++) worst = Math.max(worst, Math.abs(C[c + x] - ref[x]) / mag[x]);
    expect(worst).toBeLessThan(tol(K));
  });

  it('a k-blocked configuration (K = 150 → 3 blocks of 50, accumulating) gives the same products', () => {
    const h = createGemmWith({ ...defaultConfig, kc: 64 });
    const [M, N, K] = [9, 21, 150];
    const r = rng(11);
    const {
      As: [A],
      Bs: [B],
      a,
      b,
      c,
    } = packedBatch(h, r, 1, M, N, K);
    h.gemm(a, b, c, M, N, K);
    expect(relErr(h.f32(), c, N, A, B, M, N, K)).toBeLessThan(tol(K));
  });

  it('computes a small product exactly', () => {
    const h = createGemm();
    const a = h.alloc(packedSizeA(2, 3)),
      b = h.alloc(packedSizeB(3, 2)),
      c = h.alloc(4);
    const m = h.f32();
    const A = [1, 2, 3, 4, 5, 6],
      B = [1, 0, 0, 1, 1, 1];
    for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) m[a + packIndexA(i, k, 3)] = A[i * 3 + k];
    for (let k = 0; k < 3; k++) for (let j = 0; j < 2; j++) m[b + packIndexB(k, j, 3)] = B[k * 2 + j];
    h.gemm(a, b, c, 2, 2, 3);
    expect(Array.from(h.f32().subarray(c, c + 4))).toEqual([4, 5, 10, 11]);
  });

  it('threaded variant (2 persistent workers + caller) matches the single-threaded kernel', async () => {
    const tg = createThreadedGemm({ threads: 3, minFlops: 0 });
    try {
      expect(tg.threads).toBe(3);
      expect(tg.memory.buffer).toBeInstanceOf(SharedArrayBuffer);
      const r = rng(2024);
      const shapes = [
        [1, 1, 1],
        [5, 9, 7],
        [37, 33, 29],
        [16, 24, 8],
        [100, 1024, 52],
        [13, 70, 31],
        [9, 17, 3],
      ];
      for (const [M, N, K] of shapes)
        for (const batch of [1, 3]) {
          tg.reset();
          const { As, Bs, a, b, c } = packedBatch(tg, r, batch, M, N, K);
          tg.f32().fill(NaN, c, c + batch * M * N);
          if (batch === 1) tg.gemm(a, b, c, M, N, K);
          else tg.gemmBatched(batch, a, b, c, M, N, K);
          for (let s = 0; s < batch; s++)
            expect(
              relErr(tg.f32(), c + s * M * N, N, As[s], Bs[s], M, N, K),
              `M=${M} N=${N} K=${K} batch=${batch}`,
            ).toBeLessThan(tol(K));
          if (batch === 1) {
            // accumulate with a padded ldc
            const ldc = N + 5,
              c2 = tg.alloc(M * ldc);
            tg.f32().fill(0, c2, c2 + M * ldc);
            tg.gemm(a, b, c2, M, N, K, ldc, true);
            tg.gemm(a, b, c2, M, N, K, ldc, true);
            const twice = Float32Array.from(As[0], (x) => 2 * x);
            expect(relErr(tg.f32(), c2, ldc, twice, Bs[0], M, N, K)).toBeLessThan(2 * tol(K));
            for (let i = 0; i < M; i++) for (let j = N; j < ldc; j++) expect(tg.f32()[c2 + i * ldc + j]).toBe(0);
          }
        }
      // memory grown after the workers started is visible to them
      const [M, N, K] = [20, 64, 40];
      tg.reset();
      tg.alloc(8 << 20); // 32 MiB: forces growth
      const A = randMat(M * K, r),
        B = randMat(K * N, r);
      const a = tg.alloc(packedSizeA(M, K)),
        b = tg.alloc(packedSizeB(K, N)),
        c = tg.alloc(M * N);
      pack(tg, A, B, M, N, K, a, b);
      tg.gemm(a, b, c, M, N, K);
      expect(relErr(tg.f32(), c, N, A, B, M, N, K)).toBeLessThan(tol(K));
    } finally {
      await tg.close();
    }
    // after close it still works, on the calling thread
    const [M, N, K] = [7, 19, 5];
    const r = rng(3);
    tg.reset();
    const {
      As: [A],
      Bs: [B],
      a,
      b,
      c,
    } = packedBatch(tg, r, 1, M, N, K);
    tg.gemm(a, b, c, M, N, K);
    expect(relErr(tg.f32(), c, N, A, B, M, N, K)).toBeLessThan(tol(K));
  }, 120_000);
});
