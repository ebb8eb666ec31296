// The operand layout of the WebAssembly sgemm (gemm-wat.ts) and the JS code that packs operands into it.
//
// Division of labour with the calling (generated) JS code:
//   1. JS packs A (M×K) and B (K×N) into wasm memory through a Float32Array view, in the panel layout
//      below (it computes operand values from arbitrary index expressions, so packing stays in JS);
//   2. `gemm()` (gemm.ts) computes C = A·B (or C += A·B) into a row-major region of wasm memory;
//   3. JS reads C (and applies its elementwise epilogue).
//
// Panel layout (MR × NR micro-tile; all offsets in floats):
//   A: panels of MR consecutive rows, each panel k-major:    packIndexA(i, k, K) = (floor(i / MR) * K + k) * MR + i % MR
//      size packedSizeA(M, K) = ceil(M / MR) * MR * K
//   B: panels of NR consecutive columns, each panel k-major: packIndexB(k, j, K) = (floor(j / NR) * K + k) * NR + j % NR
//      size packedSizeB(K, N) = ceil(N / NR) * NR * K
//   Padding slots (rows i ≥ M of the last A panel, columns j ≥ N of the last B panel) are never read
//   into stored results: they need not be zeroed (garbage, even NaN, there is harmless).
//
//   Packing code: `packIndexExprA/B` give the slot as an inlinable JS expression; `packCodeA/B` emit
//   whole packing loops in panel order with k-blocking (measured 1.5-3× faster than element order,
//   mostly for transposed sources, as in backprop's Xᵀ·dY and dY·Wᵀ).

/** Micro-tile rows (A panel height). */
export const MR = 4;
/** Micro-tile columns (B panel width). */
export const NR = 8;

const ceilDiv = (a: number, b: number): number => Math.floor((a + b - 1) / b);

/** Floats needed for packed A (M×K). */
export const packedSizeA = (M: number, K: number): number => ceilDiv(M, MR) * MR * K;
/** Floats needed for packed B (K×N). */
export const packedSizeB = (K: number, N: number): number => ceilDiv(N, NR) * NR * K;

// Panel index maps, written once over the tile constants: in a panel of P rows (A) or columns (B),
// P a power of two, element (r, k) sits at (floor(r / P) * K + k) * P + r % P.
const log2 = (p: number): number => {
  const s = Math.log2(p);
  if (!Number.isInteger(s)) throw new Error(`gemm-packing: panel width ${p} is not a power of two`);
  return s;
};
const panelIndex = (P: number) => {
  const s = log2(P),
    mask = P - 1;
  return (r: number, k: number, K: number): number => ((r >> s) * K + k) * P + (r & mask);
};
const panelIndexExpr = (P: number) => {
  const s = log2(P),
    mask = P - 1;
  return (r: string, k: string, K: number): string =>
    `((((${r}) >> ${s}) * ${K} + (${k})) << ${s}) + ((${r}) & ${mask})`;
};
const indexA = panelIndex(MR),
  indexB = panelIndex(NR);
const exprA = panelIndexExpr(MR),
  exprB = panelIndexExpr(NR);

/** Float offset of A[i][k] inside packed A. */
export const packIndexA = (i: number, k: number, K: number): number => indexA(i, k, K);
/** Float offset of B[k][j] inside packed B. */
export const packIndexB = (k: number, j: number, K: number): number => indexB(j, k, K);
/** `packIndexA` as a JS expression over the given variable names/expressions (K a literal). */
export const packIndexExprA = (i: string, k: string, K: number): string => exprA(i, k, K);
/** `packIndexB` as a JS expression over the given variable names/expressions (K a literal). */
export const packIndexExprB = (k: string, j: string, K: number): string => exprB(j, k, K);

/** k-block of the packing loops: keeps both a row-major and a transposed source cache-friendly. */
const PACK_KB = 32;

const packCode = (
  P: number,
  rows: number,
  K: number,
  m: string,
  dst: string,
  value: (r: string, k: string) => string,
  [k0, k1]: readonly [number, number],
): string => {
  const full = Math.floor(rows / P) * P,
    rem = rows - full;
  const lanes = [...Array(P).keys()].map(
    (r) => `{ const pk_r = pk_r0 + ${r}; ${m}[pk_w + ${r}] = ${value('pk_r', 'pk_k')}; }`,
  );
  return `for (let pk_k0 = ${k0}; pk_k0 < ${k1}; pk_k0 += ${PACK_KB}) {
  const pk_ke = pk_k0 + ${PACK_KB} < ${k1} ? pk_k0 + ${PACK_KB} : ${k1};
  for (let pk_r0 = 0; pk_r0 < ${full}; pk_r0 += ${P}) {
    let pk_w = (${dst}) + pk_r0 * ${K} + pk_k0 * ${P};
    for (let pk_k = pk_k0; pk_k < pk_ke; pk_k++, pk_w += ${P}) {
      ${lanes.join('\n      ')}
    }
  }${
    rem
      ? `
  let pk_w = (${dst}) + ${full * K} + pk_k0 * ${P};
  for (let pk_k = pk_k0; pk_k < pk_ke; pk_k++, pk_w += ${P})
    for (let pk_i = 0; pk_i < ${rem}; pk_i++) { const pk_r = ${full} + pk_i; ${m}[pk_w + pk_i] = ${value('pk_r', 'pk_k')}; }`
      : ''
  }
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
export const packCodeA = (
  M: number,
  K: number,
  m: string,
  dst: string,
  value: (i: string, k: string) => string,
  ks: readonly [number, number] = [0, K],
): string => packCode(MR, M, K, m, dst, value, ks);

/** As packCodeA, for B (K×N): `value(k, j)` is a JS expression for B[k][j]; panels NR wide. */
export const packCodeB = (
  K: number,
  N: number,
  m: string,
  dst: string,
  value: (k: string, j: string) => string,
  ks: readonly [number, number] = [0, K],
): string => packCode(NR, N, K, m, dst, (j, k) => value(k, j), ks);
