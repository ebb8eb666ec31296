// The single-precision matrix multiply of the CPU backend as WebAssembly SIMD (f32x4), rendered as
// WAT text for a fixed micro-tile and assembled in-process (wasm-assemble.ts). Operands come packed
// in the panel layout of gemm-packing.ts; gemm.ts instantiates the module and allocates its memory.
//
// C: row-major, element (i, j) at c + i * ldc + j (ldc ≥ N); exactly M×N elements are written (edge
// tiles go through a scratch tile), nothing outside that is touched.
//
// Kernel: MR×NR = 4×8 tile, 8 f32x4 accumulators in locals, per k one splat load of A per row, two
// v128 loads of B, then f32x4.relaxed_madd where relaxed SIMD is available (see wasm-relaxed.ts),
// else f32x4.mul + f32x4.add; k blocked by ≤ 512 (split evenly) accumulating into C; loops: k-block,
// B panel (stays in L1), A panel (packed A stays in L2). No k-unrolling: V8's TurboFan code got
// 1.5-3× slower with it; 6×8, 5×8 and 4×12 tiles measured no faster (bench/NOTES.md).
// Batches: `gemm_batched` loops over slices at fixed float strides (0 broadcasts an operand).
import { MR, NR } from './gemm-packing.ts';

/** Bytes of one edge-tile scratch (MR×NR floats, rounded up). */
export const SCRATCH_TILE = 256;
/** Scratch tiles at the start of memory (one per concurrent caller), never handed out by alloc. */
export const MAX_THREADS = 8;
/** Bytes at the start of memory that hold the scratch tiles. */
export const SCRATCH_BYTES = SCRATCH_TILE * MAX_THREADS;

export interface KernelConfig {
  mr: number;
  nr: number;
  /** k-loop unroll factor. */
  unroll: number;
  /** k blocking (0: none). */
  kc: number;
  shared: boolean;
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
    for (const v of cols)
      lines.push(`(local.set $b${v} (v128.load offset=${(u * nr + v * 4) * 4} align=16 (local.get $pb)))`);
    for (const r of rows) {
      lines.push(`(local.set $a (v128.load32_splat offset=${(u * mr + r) * 4} align=4 (local.get $pa)))`);
      for (const v of cols)
        lines.push(
          `(local.set ${acc(r, v)} ${madd('(local.get $a)', `(local.get $b${v})`, `(local.get ${acc(r, v)})`)})`,
        );
    }
    return lines.join('\n      ');
  };
  const locals = [
    '(local $a v128)',
    ...cols.map((v) => `(local $b${v} v128)`),
    ...rows.flatMap((r) => cols.map((v) => `(local ${acc(r, v)} v128)`)),
  ].join(' ');
  const zero = rows
    .flatMap((r) => cols.map((v) => `(local.set ${acc(r, v)} (v128.const i32x4 0 0 0 0))`))
    .join('\n    ');
  const storeRow = (r: number, add: boolean): string =>
    cols
      .map((v) => {
        const addr = `(i32.add (local.get $pc) (i32.const ${v * 16}))`;
        const val = add
          ? `(f32x4.add (v128.load align=4 ${addr}) (local.get ${acc(r, v)}))`
          : `(local.get ${acc(r, v)})`;
        return `(v128.store align=4 ${addr} ${val})`;
      })
      .join('\n        ');
  const stores = (add: boolean): string =>
    rows
      .map(
        (r) =>
          `${storeRow(r, add)}${r < mr - 1 ? '\n        (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))' : ''}`,
      )
      .join('\n        ');
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
    ${
      cfg.kc > 0
        ? `(if (i32.gt_u (local.get $K) (i32.const ${cfg.kc})) (then
      (local.set $kcb (i32.div_u (i32.add (local.get $K) (i32.const ${cfg.kc - 1})) (i32.const ${cfg.kc})))
      (local.set $kcb (i32.div_u (i32.add (local.get $K) (i32.sub (local.get $kcb) (i32.const 1))) (local.get $kcb)))))`
        : ''
    }
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
