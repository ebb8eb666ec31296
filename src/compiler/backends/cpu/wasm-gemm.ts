// Single-precision matrix multiply for the CPU backend as WebAssembly SIMD (f32x4).
//
// The kernel is written as WAT text (generated below for a fixed micro-tile), parsed, validated and
// optimised by Binaryen (`binaryen` npm package), and compiled once per process into a
// `WebAssembly.Module`. Each `createGemm()` instantiates it over its own `WebAssembly.Memory`.
//
// Division of labour with the calling (generated) JS code:
//   1. JS packs A (M×K) and B (K×N) into wasm memory through a Float32Array view, in the panel layout
//      below (it computes operand values from arbitrary index expressions, so packing stays in JS);
//   2. `gemm()` computes C = A·B (or C += A·B) into a row-major region of wasm memory;
//   3. JS reads C (and applies its elementwise epilogue).
//
// Panel layout (MR = 4, NR = 8; all offsets in floats):
//   A: panels of MR consecutive rows, each panel k-major:   packIndexA(i, k, K) = ((i >> 2) * K + k) * 4 + (i & 3)
//      size packedSizeA(M, K) = ceil(M / 4) * 4 * K
//   B: panels of NR consecutive columns, each panel k-major: packIndexB(k, j, K) = ((j >> 3) * K + k) * 8 + (j & 7)
//      size packedSizeB(K, N) = ceil(N / 8) * 8 * K
//   Padding slots (rows i ≥ M of the last A panel, columns j ≥ N of the last B panel) are never read
//   into stored results: they need not be zeroed (garbage, even NaN, there is harmless).
//   C: row-major, element (i, j) at c + i * ldc + j (ldc ≥ N, default N); exactly M×N elements are
//      written (edge tiles go through a scratch tile), nothing outside that is touched.
//
//   Packing code: `packIndexExprA/B` give the slot as an inlinable JS expression; `packCodeA/B` emit
//   whole packing loops in panel order with k-blocking (measured 1.5-3× faster than element order,
//   mostly for transposed sources, as in backprop's Xᵀ·dY and dY·Wᵀ).
//
// Memory: `alloc(n)` is a bump allocator (16-byte aligned, offsets in floats) that grows the memory
// when needed. Growth detaches old views of a non-shared memory: always take views via `f32()`
// (cheap; refreshed only after growth), or pass `maxFloats` to `createGemm` to reserve everything
// up front (then views stay valid as long as allocations stay within that reservation).
//
// Batches: `gemmBatched(batch, a, b, c, M, N, K, { strideA, strideB, strideC })` loops in wasm over
// slices at fixed float strides (default: packed sizes and M·ldc; 0 broadcasts an operand).
//
// Kernel: MR×NR = 4×8 tile, 8 f32x4 accumulators in locals, per k one splat load of A per row, two
// v128 loads of B, then f32x4.relaxed_madd where relaxed SIMD is available (createGemm's choice,
// see wasm-relaxed.ts), else f32x4.mul + f32x4.add; k blocked by ≤ 512 (split evenly) accumulating
// into C; loops: k-block, B panel (stays in L1), A panel (packed A stays in L2). No k-unrolling:
// V8's TurboFan code got 1.5-3× slower with it; 6×8, 5×8 and 4×12 tiles measured no faster.
// Throughput on the 2-core Xeon here (bench/NOTES.md): mul + add 13-25 GFLOP/s, madd ~1.5× that.
// Building: see "Building" below (Binaryen runs in a child process; the binary is cached on disk).
// Optional threads: createThreadedGemm in wasm-gemm-threads.ts.
import { execFile, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { relaxedSimd } from './wasm-relaxed.ts';

/** Micro-tile rows (A panel height). */
export const MR = 4;
/** Micro-tile columns (B panel width). */
export const NR = 8;

const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** Floats needed for packed A (M×K). */
export const packedSizeA = (M: number, K: number): number => ceilDiv(M, MR) * MR * K;
/** Floats needed for packed B (K×N). */
export const packedSizeB = (K: number, N: number): number => ceilDiv(N, NR) * NR * K;
/** Float offset of A[i][k] inside packed A. */
export const packIndexA = (i: number, k: number, K: number): number => ((i >> 2) * K + k) * 4 + (i & 3);
/** Float offset of B[k][j] inside packed B. */
export const packIndexB = (k: number, j: number, K: number): number => ((j >> 3) * K + k) * 8 + (j & 7);
/** `packIndexA` as a JS expression over the given variable names/expressions (K a literal). */
export const packIndexExprA = (i: string, k: string, K: number): string =>
  `((((${i}) >> 2) * ${K} + (${k})) << 2) + ((${i}) & 3)`;
/** `packIndexB` as a JS expression over the given variable names/expressions (K a literal). */
export const packIndexExprB = (k: string, j: string, K: number): string =>
  `((((${j}) >> 3) * ${K} + (${k})) << 3) + ((${j}) & 7)`;

/** k-block of the packing loops: keeps both a row-major and a transposed source cache-friendly. */
const PACK_KB = 32;

const packCode = (P: number, rows: number, K: number, m: string, dst: string, value: (r: string, k: string) => string,
  [k0, k1]: readonly [number, number]): string => {
  const full = Math.floor(rows / P) * P, rem = rows - full;
  const lanes = [...Array(P).keys()].map((r) => `{ const pk_r = pk_r0 + ${r}; ${m}[pk_w + ${r}] = ${value('pk_r', 'pk_k')}; }`);
  return `for (let pk_k0 = ${k0}; pk_k0 < ${k1}; pk_k0 += ${PACK_KB}) {
  const pk_ke = pk_k0 + ${PACK_KB} < ${k1} ? pk_k0 + ${PACK_KB} : ${k1};
  for (let pk_r0 = 0; pk_r0 < ${full}; pk_r0 += ${P}) {
    let pk_w = (${dst}) + pk_r0 * ${K} + pk_k0 * ${P};
    for (let pk_k = pk_k0; pk_k < pk_ke; pk_k++, pk_w += ${P}) {
      ${lanes.join('\n      ')}
    }
  }${rem ? `
  let pk_w = (${dst}) + ${full * K} + pk_k0 * ${P};
  for (let pk_k = pk_k0; pk_k < pk_ke; pk_k++, pk_w += ${P})
    for (let pk_i = 0; pk_i < ${rem}; pk_i++) { const pk_r = ${full} + pk_i; ${m}[pk_w + pk_i] = ${value('pk_r', 'pk_k')}; }` : ''}
}`;
};

/**
 * JS statements packing A (M×K) into the panel layout, panel by panel in k-blocks (the fastest order
 * we measured: writes are sequential and reads stay cache-friendly whether the source is row-major
 * or transposed). `m` names a Float32Array view of the wasm memory, `dst` is a float-offset
 * expression, `value(i, k)` returns a JS expression for A[i][k] over the given variable names.
 * Full panels are unrolled MR-wide; the last panel's padding is left as is. Introduces only
 * block-scoped names starting with `pk_`. `ks` = [k0, k1) packs only those k (all by default).
 */
export const packCodeA = (M: number, K: number, m: string, dst: string, value: (i: string, k: string) => string,
  ks: readonly [number, number] = [0, K]): string => packCode(MR, M, K, m, dst, value, ks);

/** As packCodeA, for B (K×N): `value(k, j)` is a JS expression for B[k][j]; panels NR wide. */
export const packCodeB = (K: number, N: number, m: string, dst: string, value: (k: string, j: string) => string,
  ks: readonly [number, number] = [0, K]): string => packCode(NR, N, K, m, dst, (j, k) => value(k, j), ks);

// ---------------------------------------------------------------------------------------------------
// WAT generation

/** Bytes of one edge-tile scratch (MR×NR floats, rounded up). */
export const SCRATCH_TILE = 256;
/** Scratch tiles at the start of memory (one per concurrent caller), never handed out by alloc. */
export const MAX_THREADS = 8;
const SCRATCH_BYTES = SCRATCH_TILE * MAX_THREADS;

export interface KernelConfig {
  mr: number;
  nr: number;
  /** k-loop unroll factor. */
  unroll: number;
  /** k blocking (0: none). */
  kc: number;
  shared: boolean;
  /** Run Binaryen's optimiser (default true). */
  optimize?: boolean;
  /** Accumulate with f32x4.relaxed_madd (relaxed SIMD; see wasm-relaxed.ts) instead of mul + add. */
  fma?: boolean;
}

export const defaultConfig: KernelConfig = { mr: MR, nr: NR, unroll: 1, kc: 512, shared: false };

/** The kernel module as WAT text. Memory is imported as env.memory; offsets are in floats. */
export const gemmWat = (cfg: KernelConfig = defaultConfig): string => {
  const { mr, nr, unroll } = cfg;
  const nv = nr / 4;
  if (nr % 4 !== 0) throw new Error('nr must be a multiple of 4');
  const rows = [...Array(mr).keys()];
  const cols = [...Array(nv).keys()];
  const acc = (r: number, v: number): string => `$c${r}_${v}`;
  const madd = (a: string, b: string, c: string): string =>
    cfg.fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add ${c} (f32x4.mul ${a} ${b}))`;
  const step = (u: number): string => {
    const lines: string[] = [];
    for (const v of cols) lines.push(`(local.set $b${v} (v128.load offset=${(u * nr + v * 4) * 4} align=16 (local.get $pb)))`);
    for (const r of rows) {
      lines.push(`(local.set $a (v128.load32_splat offset=${(u * mr + r) * 4} align=4 (local.get $pa)))`);
      for (const v of cols)
        lines.push(`(local.set ${acc(r, v)} ${madd('(local.get $a)', `(local.get $b${v})`, `(local.get ${acc(r, v)})`)})`);
    }
    return lines.join('\n      ');
  };
  const locals = [
    '(local $a v128)',
    ...cols.map((v) => `(local $b${v} v128)`),
    ...rows.flatMap((r) => cols.map((v) => `(local ${acc(r, v)} v128)`)),
  ].join(' ');
  const zero = rows.flatMap((r) => cols.map((v) => `(local.set ${acc(r, v)} (v128.const i32x4 0 0 0 0))`)).join('\n    ');
  const storeRow = (r: number, add: boolean): string =>
    cols.map((v) => {
      const addr = `(i32.add (local.get $pc) (i32.const ${v * 16}))`;
      const val = add ? `(f32x4.add (v128.load align=4 ${addr}) (local.get ${acc(r, v)}))` : `(local.get ${acc(r, v)})`;
      return `(v128.store align=4 ${addr} ${val})`;
    }).join('\n        ');
  const stores = (add: boolean): string =>
    rows.map((r) => `${storeRow(r, add)}${r < mr - 1 ? '\n        (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))' : ''}`).join('\n        ');
  const memory = cfg.shared ? '(memory $mem 1 65536 shared)' : '(memory $mem 1)';
  return `(module
  (import "env" "memory" ${memory})
  ;; One MR×NR tile: A panel at $pa, B panel at $pb (bytes), kc steps; C tile at $pc (bytes) with row
  ;; stride $ldc (bytes); $accum ≠ 0 adds to C instead of overwriting.
  (func $tile (param $pa i32) (param $pb i32) (param $pc i32) (param $kc i32) (param $ldc i32) (param $accum i32)
    ${locals}
    ${zero}
    (block $main_done
      (br_if $main_done (i32.lt_u (local.get $kc) (i32.const ${unroll})))
      (loop $main
      ${[...Array(unroll).keys()].map(step).join('\n      ')}
      (local.set $pa (i32.add (local.get $pa) (i32.const ${unroll * mr * 4})))
      (local.set $pb (i32.add (local.get $pb) (i32.const ${unroll * nr * 4})))
      (local.set $kc (i32.sub (local.get $kc) (i32.const ${unroll})))
      (br_if $main (i32.ge_u (local.get $kc) (i32.const ${unroll})))))
    (block $rest_done
      (br_if $rest_done (i32.eqz (local.get $kc)))
      (loop $rest
      ${step(0)}
      (local.set $pa (i32.add (local.get $pa) (i32.const ${mr * 4})))
      (local.set $pb (i32.add (local.get $pb) (i32.const ${nr * 4})))
      (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))
      (br_if $rest (local.get $kc))))
    (if (local.get $accum)
      (then
        ${stores(true)})
      (else
        ${stores(false)})))

  ;; C[c + i*ldc + j] (+)= sum_k A[i][k] B[k][j] over packed panels; all offsets/strides in floats,
  ;; except $scratch: the byte offset of an MR×NR-float scratch tile (one per concurrent caller).
  (func $gemm (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $N i32) (param $K i32) (param $ldc i32) (param $accum i32) (param $scratch i32)
    (local $ib i32) (local $jb i32) (local $i0 i32) (local $j0 i32) (local $mb i32) (local $nb i32)
    (local $pa i32) (local $pb i32) (local $pc i32) (local $ldcb i32) (local $k0 i32) (local $kc i32) (local $kcb i32) (local $acc i32)
    (local $mr i32) (local $nr i32) (local $ii i32) (local $jj i32) (local $src i32) (local $dst i32)
    (if (i32.or (i32.or (i32.eqz (local.get $M)) (i32.eqz (local.get $N))) (i32.eqz (local.get $K)))
      (then
        (if (i32.eqz (local.get $accum)) (then
          ;; C = 0
          (local.set $ii (i32.const 0))
          (block $zd (loop $zl
            (br_if $zd (i32.ge_u (local.get $ii) (local.get $M)))
            (memory.fill (i32.shl (i32.add (local.get $c) (i32.mul (local.get $ii) (local.get $ldc))) (i32.const 2)) (i32.const 0) (i32.shl (local.get $N) (i32.const 2)))
            (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
            (br $zl))))) 
        (return)))
    (local.set $a (i32.shl (local.get $a) (i32.const 2)))
    (local.set $b (i32.shl (local.get $b) (i32.const 2)))
    (local.set $c (i32.shl (local.get $c) (i32.const 2)))
    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $mb (i32.div_u (i32.add (local.get $M) (i32.const ${mr - 1})) (i32.const ${mr})))
    (local.set $nb (i32.div_u (i32.add (local.get $N) (i32.const ${nr - 1})) (i32.const ${nr})))
    ;; k blocks of at most KC, split evenly
    (local.set $kcb (local.get $K))
    ${cfg.kc > 0 ? `(if (i32.gt_u (local.get $K) (i32.const ${cfg.kc})) (then
      (local.set $kcb (i32.div_u (i32.add (local.get $K) (i32.const ${cfg.kc - 1})) (i32.const ${cfg.kc})))
      (local.set $kcb (i32.div_u (i32.add (local.get $K) (i32.sub (local.get $kcb) (i32.const 1))) (local.get $kcb)))))` : ''}
    (local.set $k0 (i32.const 0))
    (loop $kloop
      (local.set $kc (i32.sub (local.get $K) (local.get $k0)))
      (if (i32.gt_u (local.get $kc) (local.get $kcb)) (then (local.set $kc (local.get $kcb))))
      (local.set $acc (i32.or (local.get $accum) (local.get $k0)))
      (local.set $jb (i32.const 0))
      (loop $jloop
        (local.set $j0 (i32.mul (local.get $jb) (i32.const ${nr})))
        (local.set $pb (i32.add (local.get $b) (i32.mul (i32.add (i32.mul (local.get $jb) (local.get $K)) (local.get $k0)) (i32.const ${nr * 4}))))
        (local.set $ib (i32.const 0))
        (loop $iloop
          (local.set $i0 (i32.mul (local.get $ib) (i32.const ${mr})))
          (local.set $pa (i32.add (local.get $a) (i32.mul (i32.add (i32.mul (local.get $ib) (local.get $K)) (local.get $k0)) (i32.const ${mr * 4}))))
          (if (i32.and (i32.le_u (i32.add (local.get $i0) (i32.const ${mr})) (local.get $M)) (i32.le_u (i32.add (local.get $j0) (i32.const ${nr})) (local.get $N)))
            (then
              (call $tile (local.get $pa) (local.get $pb)
                (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i0) (local.get $ldc)) (local.get $j0)) (i32.const 2)))
                (local.get $kc) (local.get $ldcb) (local.get $acc)))
            (else
              ;; edge tile: compute into the scratch tile, then copy (or add) the valid part
              (call $tile (local.get $pa) (local.get $pb) (local.get $scratch) (local.get $kc) (i32.const ${nr * 4}) (i32.const 0))
              (local.set $mr (i32.sub (local.get $M) (local.get $i0)))
              (if (i32.gt_u (local.get $mr) (i32.const ${mr})) (then (local.set $mr (i32.const ${mr}))))
              (local.set $nr (i32.sub (local.get $N) (local.get $j0)))
              (if (i32.gt_u (local.get $nr) (i32.const ${nr})) (then (local.set $nr (i32.const ${nr}))))
              (local.set $ii (i32.const 0))
              (loop $eri
                (local.set $src (i32.add (local.get $scratch) (i32.mul (local.get $ii) (i32.const ${nr * 4}))))
                (local.set $dst (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (i32.add (local.get $i0) (local.get $ii)) (local.get $ldc)) (local.get $j0)) (i32.const 2))))
                (local.set $jj (i32.const 0))
                (loop $erj
                  (if (local.get $acc)
                    (then (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src)))))
                    (else (f32.store (local.get $dst) (f32.load (local.get $src)))))
                  (local.set $src (i32.add (local.get $src) (i32.const 4)))
                  (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
                  (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
                  (br_if $erj (i32.lt_u (local.get $jj) (local.get $nr))))
                (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
                (br_if $eri (i32.lt_u (local.get $ii) (local.get $mr))))))
          (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
          (br_if $iloop (i32.lt_u (local.get $ib) (local.get $mb))))
        (local.set $jb (i32.add (local.get $jb) (i32.const 1)))
        (br_if $jloop (i32.lt_u (local.get $jb) (local.get $nb))))
      (local.set $k0 (i32.add (local.get $k0) (local.get $kc)))
      (br_if $kloop (i32.lt_u (local.get $k0) (local.get $K)))))

  ;; batch slices: A, B, C advance by sa, sb, sc floats per slice.
  (func $gemm_batched (export "gemm_batched") (param $batch i32) (param $a i32) (param $b i32) (param $c i32) (param $M i32) (param $N i32) (param $K i32) (param $ldc i32) (param $accum i32) (param $sa i32) (param $sb i32) (param $sc i32) (param $scratch i32)
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $batch)))
      (call $gemm (local.get $a) (local.get $b) (local.get $c) (local.get $M) (local.get $N) (local.get $K) (local.get $ldc) (local.get $accum) (local.get $scratch))
      (local.set $a (i32.add (local.get $a) (local.get $sa)))
      (local.set $b (i32.add (local.get $b) (local.get $sb)))
      (local.set $c (i32.add (local.get $c) (local.get $sc)))
      (local.set $batch (i32.sub (local.get $batch) (i32.const 1)))
      (br $l))))
)`;
};

// ---------------------------------------------------------------------------------------------------
// Building (Binaryen) and caching
//
// Binaryen's JS build is itself a large WebAssembly module that loads with top-level await (~1 s),
// so it can't be required synchronously, and loading it into this process has a cost beyond the
// load: V8 keeps tiering Binaryen's own hot functions up in the background for seconds afterwards,
// and that queue delays the tier-up of our kernel from baseline (Liftoff) code, which is 10-20×
// slower. So the Binaryen pipeline runs in a short-lived child Node process (synchronously with
// execFileSync for createGemm, asynchronously for createGemmAsync) that reads the WAT on stdin and
// writes the binary to stdout; this process only compiles the small result.

const require = createRequire(import.meta.url);
const binaryenPath = (): string => {
  // The package is ESM-only with an `exports` map; resolve its entry through the package.json.
  const pkg = require.resolve('binaryen/package.json');
  return pkg.replace(/package\.json$/, 'index.js');
};

/**
 * The child's program (plain JS, ESM): reads {path, wat, shared, optimize} as JSON on stdin, runs
 * Binaryen's pipeline (parseText → setFeatures → validate → optimise at -O3 → validate → emitBinary)
 * and writes the binary to stdout.
 */
const childSource = `
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const { path, wat, shared, optimize, fma } = JSON.parse(readFileSync(0, 'utf8'));
const binaryen = (await import(pathToFileURL(path).href)).default;
const mod = binaryen.parseText(wat);
let features = binaryen.Features.SIMD128 | binaryen.Features.BulkMemory | binaryen.Features.BulkMemoryOpt
  | binaryen.Features.MutableGlobals | binaryen.Features.SignExt | binaryen.Features.NontrappingFPToInt;
if (shared) features |= binaryen.Features.Atomics;
if (fma) features |= binaryen.Features.RelaxedSIMD;
mod.setFeatures(features);
if (!mod.validate()) throw new Error('wasm-gemm: Binaryen validation failed');
if (optimize) {
  binaryen.setOptimizeLevel(3);
  binaryen.setShrinkLevel(0);
  mod.optimize();
  if (!mod.validate()) throw new Error('wasm-gemm: Binaryen validation failed after optimisation');
}
process.stdout.write(Buffer.from(mod.emitBinary()));
`;

const childArgs = ['--input-type=module', '-e', childSource];
const childInput = (cfg: KernelConfig): string =>
  JSON.stringify({ path: binaryenPath(), wat: gemmWat(cfg), shared: cfg.shared, optimize: cfg.optimize !== false, fma: !!cfg.fma });
const childEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no loaders (tsx, coverage) needed in the child
  return env;
};

// On-disk cache of built binaries, keyed by a hash of everything that determines the bytes (the WAT,
// the pipeline source, the Binaryen version), so a new process skips the 1-5 s Binaryen build.
// Directory: $DRAW_WASM_CACHE_DIR or <tmpdir>/draw-ts-wasm-<uid>; DRAW_WASM_CACHE=0 disables it.
const cacheFile = (cfg: KernelConfig): string | undefined => {
  if (process.env.DRAW_WASM_CACHE === '0') return undefined;
  let version = '?';
  try { version = (require('binaryen/package.json') as { version: string }).version; } catch { /* unresolvable: no cache */ return undefined; }
  const { path: _path, ...rest } = JSON.parse(childInput(cfg)) as Record<string, unknown>;
  const hash = createHash('sha256').update(JSON.stringify([version, childSource, rest])).digest('hex').slice(0, 32);
  const user = typeof process.getuid === 'function' ? process.getuid() : 'u';
  return join(process.env.DRAW_WASM_CACHE_DIR ?? join(tmpdir(), `draw-ts-wasm-${user}`), `gemm-${hash}.wasm`);
};
const readCached = (file: string | undefined): Uint8Array | undefined => {
  if (!file) return undefined;
  try {
    const bytes = new Uint8Array(readFileSync(file));
    if (!WebAssembly.validate(bytes)) return undefined;
    // Only ever our kernel's shape: imports env.memory alone, exports the two entry points.
    const m = new WebAssembly.Module(bytes);
    const imports = WebAssembly.Module.imports(m).map((d) => `${d.module}.${d.name}:${d.kind}`).join();
    const exports = WebAssembly.Module.exports(m).map((d) => `${d.name}:${d.kind}`).sort().join();
    return imports === 'env.memory:memory' && exports === 'gemm:function,gemm_batched:function' ? bytes : undefined;
  } catch { return undefined; }
};
const writeCached = (file: string | undefined, bytes: Uint8Array): void => {
  if (!file) return;
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, file); // atomic: concurrent processes never see a partial file
  } catch { /* best effort */ }
};
/** Where the last build of each config came from. */
export const buildSources: Record<string, 'binaryen' | 'disk-cache'> = {};

const fromChild = (out: Buffer): Uint8Array => {
  if (out.length < 8) throw new Error('wasm-gemm: Binaryen produced no binary');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
};

const moduleCache = new Map<string, WebAssembly.Module>();
const pending = new Map<string, Promise<WebAssembly.Module>>();
/** Milliseconds spent building each cached module (child start, Binaryen load + parse + validate + optimise, compile). */
export const buildTimes: Record<string, number> = {};

const cacheKey = (cfg: KernelConfig): string => JSON.stringify(cfg);
const remember = (cfg: KernelConfig, bytes: Uint8Array, t0: number, from: 'binaryen' | 'disk-cache'): WebAssembly.Module => {
  const key = cacheKey(cfg);
  const had = moduleCache.get(key);
  if (had) return had;
  const m = new WebAssembly.Module(bytes as BufferSource);
  moduleCache.set(key, m);
  buildTimes[key] = performance.now() - t0;
  buildSources[key] = from;
  return m;
};

/** Forgets the compiled modules of this process (tests; the disk cache is kept). */
export const clearGemmModuleCache = (): void => {
  moduleCache.clear();
  for (const k of Object.keys(buildTimes)) delete buildTimes[k];
  for (const k of Object.keys(buildSources)) delete buildSources[k];
};

/** The compiled module for `cfg`, building it (blocking) on first use in the process. */
export const gemmModuleSync = (cfg: KernelConfig = defaultConfig): WebAssembly.Module => {
  const hit = moduleCache.get(cacheKey(cfg));
  if (hit) return hit;
  const t0 = performance.now();
  const file = cacheFile(cfg);
  const cached = readCached(file);
  if (cached) return remember(cfg, cached, t0, 'disk-cache');
  let out: Buffer;
  try {
    out = execFileSync(process.execPath, childArgs, {
      input: childInput(cfg), env: childEnv(), maxBuffer: 1 << 24, stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000,
    });
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`wasm-gemm: building the kernel failed: ${err.stderr?.toString() || err.message}`);
  }
  const bytes = fromChild(out);
  writeCached(file, bytes);
  return remember(cfg, bytes, t0, 'binaryen');
};

/** Builds (once per process and config) without blocking the event loop. */
export const loadGemmModule = (cfg: KernelConfig = defaultConfig): Promise<WebAssembly.Module> => {
  const key = cacheKey(cfg);
  const hit = moduleCache.get(key);
  if (hit) return Promise.resolve(hit);
  let p = pending.get(key);
  if (!p) {
    const t0 = performance.now();
    const file = cacheFile(cfg);
    const cached = readCached(file);
    if (cached) return Promise.resolve(remember(cfg, cached, t0, 'disk-cache'));
    p = new Promise<WebAssembly.Module>((resolve, reject) => {
      const child = execFile(process.execPath, childArgs,
        { env: childEnv(), maxBuffer: 1 << 24, encoding: 'buffer', timeout: 120_000 },
        (e, stdout, stderr) => {
          pending.delete(key);
          if (e) reject(new Error(`wasm-gemm: building the kernel failed: ${stderr?.toString() || e.message}`));
          else {
            try {
              const bytes = fromChild(stdout);
              writeCached(file, bytes);
              resolve(remember(cfg, bytes, t0, 'binaryen'));
            } catch (x) { reject(x); }
          }
        });
      child.stdin!.end(childInput(cfg));
    });
    pending.set(key, p);
  }
  return p;
};

// ---------------------------------------------------------------------------------------------------
// Instances

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
  gemmBatched(batch: number, a: number, b: number, c: number, M: number, N: number, K: number,
    opts?: { strideA?: number; strideB?: number; strideC?: number; ldc?: number; accumulate?: boolean }): void;
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
  gemm(a: number, b: number, c: number, M: number, N: number, K: number, ldc: number, accum: number, scratch: number): void;
  gemm_batched(batch: number, a: number, b: number, c: number, M: number, N: number, K: number, ldc: number,
    accum: number, sa: number, sb: number, sc: number, scratch: number): void;
}

const checkInt = (...xs: number[]): void => {
  for (const x of xs) if (!Number.isInteger(x) || x < 0 || x > 0x3fffffff) throw new RangeError(`wasm-gemm: bad size/offset ${x}`);
};

/** Argument checks shared by the single- and multi-threaded paths; returns the batched strides. */
export const checkGemmArgs = (
  memFloats: number, batch: number, a: number, b: number, c: number, M: number, N: number, K: number, ldc: number,
  sa: number, sb: number, sc: number,
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
    if (end > memFloats) throw new RangeError(`wasm-gemm: ${what} runs past the end of memory (${end} > ${memFloats} floats)`);
  if (Math.min(a, b, c) * 4 < SCRATCH_BYTES) throw new RangeError('wasm-gemm: offsets below the scratch area (use alloc)');
};

export const instantiateGemm = (module: WebAssembly.Module, opts: GemmOptions): Gemm & { readonly exports: GemmExports } => {
  const initialPages = Math.max(1, Math.ceil((SCRATCH_BYTES + 4 * (opts.maxFloats ?? 0) + 16) / PAGE));
  const memory = new WebAssembly.Memory(
    opts.shared ? { initial: initialPages, maximum: MAX_PAGES, shared: true } : { initial: initialPages });
  const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmExports;
  let top = SCRATCH_BYTES; // bytes
  let view = new Float32Array(memory.buffer);
  const f32 = (): Float32Array => {
    if (view.buffer !== memory.buffer || view.length * 4 !== memory.buffer.byteLength) view = new Float32Array(memory.buffer);
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
        if (have / PAGE + pages > MAX_PAGES) throw new RangeError(`wasm-gemm: cannot allocate ${n} floats (4 GiB limit)`);
        memory.grow(pages);
      }
      top = end;
      return start / 4;
    },
    reset: () => { top = SCRATCH_BYTES; },
    used: () => top / 4,
    gemm: (a, b, c, M, N, K, ldc = N, accumulate = false) => {
      checkGemmArgs(memFloats(), 1, a, b, c, M, N, K, ldc, 0, 0, 0);
      ex.gemm(a, b, c, M, N, K, ldc, accumulate ? 1 : 0, 0);
    },
    gemmBatched: (batch, a, b, c, M, N, K, o = {}) => {
      const ldc = o.ldc ?? N;
      const sa = o.strideA ?? packedSizeA(M, K), sb = o.strideB ?? packedSizeB(K, N), sc = o.strideC ?? M * ldc;
      checkGemmArgs(memFloats(), batch, a, b, c, M, N, K, ldc, sa, sb, sc);
      ex.gemm_batched(batch, a, b, c, M, N, K, ldc, o.accumulate ? 1 : 0, sa, sb, sc, 0);
    },
  };
};

/** The configuration createGemm uses here: the default, with fused multiply-add where relaxed SIMD is available. */
export const bestConfig = (shared = false): KernelConfig => ({ ...defaultConfig, shared, fma: relaxedSimd() });

/** A kernel instance over a fresh memory. Builds the module synchronously on first use in the process. */
export const createGemm = (opts: GemmOptions = {}): Gemm =>
  instantiateGemm(gemmModuleSync(bestConfig(!!opts.shared)), opts);

/** Like createGemm, but builds the module (first use) without blocking the event loop. */
export const createGemmAsync = async (opts: GemmOptions = {}): Promise<Gemm> =>
  instantiateGemm(await loadGemmModule(bestConfig(!!opts.shared)), opts);

/** For experiments: an instance of a non-default kernel configuration. */
export const createGemmWith = (cfg: KernelConfig, opts: GemmOptions = {}): Gemm =>
  instantiateGemm(gemmModuleSync(cfg), opts);
