// Elementwise kernels as WebAssembly. A JS typed-array loop costs ~1.6 ns an element even for a·b
// (V8 neither vectorises nor drops the bounds checks), the same loop in WebAssembly ~0.46 ns and
// less in SIMD lanes (bench/NOTES.md). A fused elementwise kernel is rendered here from its
// expression tree as one WAT function over byte offsets into the program's memory: the JS kernel's
// loop nest (split where concat conditions change, so none is tested per element), loads at index
// expressions built by an index algebra whose values are WAT i32 expressions that also carry their
// affine form. The affine form decides a concat condition over a loop's range, and whether a load
// moves by one element (a vector load) or not at all (a splat) as the innermost index steps: where
// every load does one or the other, that loop runs two elements at a time, its last two ending where
// it ends. Arithmetic is float64 (f64x2), rounded to float32 once per stored element, as the JS
// kernels compute: float32 arithmetic (f32x4, twice as wide) trained worse (bench/NOTES.md). tanh, exp
// and log, which have no WebAssembly instruction, come from wasm-math.ts. A kernel with anything not
// in the tables below, or a condition its ranges leave open, stays JavaScript:
// `renderWasmElementwise` returns undefined.
import { primitiveOf, primitives } from '../../../dsl/primitives.ts';
import { ravel, type IndexAlgebra } from '../../../dsl/indexing.ts';
import type { KernelSpec } from '../backend.ts';
import { expWat, logWat, mathLocals, tanhWat, type Arith } from './wasm-math.ts';

/** An i32 index expression: its WAT, the loop variables it uses, and its affine form over them when it has one. */
interface Ix {
  readonly wat: string;
  readonly uses: ReadonlySet<string>;
  readonly affine?: { readonly c: number; readonly terms: ReadonlyMap<string, number> };
}

const constant = (n: number): Ix => ({ wat: `(i32.const ${n})`, uses: new Set(), affine: { c: n, terms: new Map() } });
const isConstant = (e: Ix): e is Ix & { affine: { c: number } } => e.affine !== undefined && e.affine.terms.size === 0;
const loopVar = (v: string): Ix => ({
  wat: `(local.get $${v})`,
  uses: new Set([v]),
  affine: { c: 0, terms: new Map([[v, 1]]) },
});
const opaque = (wat: string, a: Ix): Ix => ({ wat, uses: a.uses });

const affineAlgebra: IndexAlgebra<Ix> = {
  lit: constant,
  add: (a, b) => {
    if (isConstant(a) && a.affine.c === 0) return b;
    if (isConstant(b) && b.affine.c === 0) return a;
    if (isConstant(a) && isConstant(b)) return constant(a.affine.c + b.affine.c);
    const affine = a.affine &&
      b.affine && {
        c: a.affine.c + b.affine.c,
        terms: new Map([
          ...a.affine.terms,
          ...[...b.affine.terms].map(([v, k]) => [v, k + (a.affine!.terms.get(v) ?? 0)] as const),
        ]),
      };
    return { wat: `(i32.add ${a.wat} ${b.wat})`, uses: new Set([...a.uses, ...b.uses]), affine };
  },
  mul: (a, k) => {
    if (k === 0) return constant(0);
    if (k === 1) return a;
    if (isConstant(a)) return constant(a.affine.c * k);
    const affine = a.affine && {
      c: a.affine.c * k,
      terms: new Map([...a.affine.terms].map(([v, m]) => [v, m * k] as const)),
    };
    return { ...opaque(`(i32.mul ${a.wat} (i32.const ${k}))`, a), affine };
  },
  // indices are never negative, so unsigned division is floor division
  div: (a, k) =>
    k === 1
      ? a
      : isConstant(a)
        ? constant(Math.floor(a.affine.c / k))
        : opaque(`(i32.div_u ${a.wat} (i32.const ${k}))`, a),
  mod: (a, k) =>
    k === 1
      ? constant(0)
      : isConstant(a)
        ? constant(a.affine.c % k)
        : opaque(`(i32.rem_u ${a.wat} (i32.const ${k}))`, a),
};

/** A float64 as a WAT literal (JS prints the shortest decimal that reads back as the same double). */
const f64 = (v: number): string =>
  `(f64.const ${Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v})`;

/** One lane or two: the arithmetic (wasm-math.ts's Arith), and how loads, indices and stores spread over the lanes. */
interface Lanes {
  readonly width: 1 | 2;
  readonly arith: Arith;
  /** A load at byte address `at` of lane 0; the other lanes `step` elements further on (0: the same element). */
  load(at: string, step: 0 | 1): string;
  /** The integer index `i` (lane 0; `step` as for load) as a float. */
  index(i: string, step: 0 | 1): string;
  /** Stores `value`'s lanes at byte address `at`, rounded to float32. */
  store(at: string, value: string): string;
  readonly maps: ReturnType<typeof mapsOf>;
}

/** The elementwise primitives in WAT over `A`'s lanes. */
const mapsOf = (A: Arith): Partial<Record<keyof typeof primitives, (args: readonly string[]) => string>> => ({
  tanh: ([x]) => tanhWat(A, x),
  exp: ([x]) => expWat(A, x),
  log: ([x]) => logWat(A, x),
  sqrt: ([x]) => `(${A.t}.sqrt ${x})`,
  recip: ([x]) => `(${A.t}.div ${A.float(1)} ${x})`,
  materialize: ([x]) => x,
  add: ([a, b]) => `(${A.t}.add ${a} ${b})`,
  mul: ([a, b]) => `(${A.t}.mul ${a} ${b})`,
  max: ([a, b]) => `(${A.t}.max ${a} ${b})`,
  less: ([a, b]) => A.select(A.float(1), A.float(0), `(${A.t}.lt ${a} ${b})`),
  where: ([c, a, b]) => A.select(a, b, `(${A.t}.gt ${c} ${A.float(0)})`),
});

const scalarArith: Arith = {
  t: 'f64',
  i: 'i64',
  prefix: 's',
  float: f64,
  int: (v) => `(i64.const ${v})`,
  select: (a, b, mask) => `(select ${a} ${b} ${mask})`,
  any: (mask) => mask,
  toInt: (x) => `(i64.trunc_sat_f64_s ${x})`,
  toFloat: (n) => `(f64.convert_i64_s ${n})`,
  bitsOf: (x) => `(i64.reinterpret_f64 ${x})`,
  fromBits: (n) => `(f64.reinterpret_i64 ${n})`,
  and: (a, b) => `(i64.and ${a} ${b})`,
  or: (a, b) => `(i64.or ${a} ${b})`,
  shl: (n, by) => `(i64.shl ${n} (i64.const ${by}))`,
  shrS: (n, by) => `(i64.shr_s ${n} (i64.const ${by}))`,
  copysign: (x, sign) => `(f64.copysign ${x} ${sign})`,
};

const vectorArith: Arith = {
  t: 'f64x2',
  i: 'i64x2',
  prefix: 'v',
  float: (v) => `(f64x2.splat ${f64(v)})`,
  int: (v) => `(v128.const i64x2 ${v} ${v})`,
  select: (a, b, mask) => `(v128.bitselect ${a} ${b} ${mask})`,
  any: (mask) => `(v128.any_true ${mask})`,
  // f64x2 has no conversions from i64x2: through i32x4, and 2^52 + n read as a float for n < 2^52
  toInt: (x) => `(i64x2.extend_low_i32x4_s (i32x4.trunc_sat_f64x2_s_zero ${x}))`,
  toFloat: (n) =>
    `(f64x2.sub (v128.or ${n} (v128.const i64x2 ${0x4330000000000000n} ${0x4330000000000000n})) (f64x2.splat ${f64(2 ** 52)}))`,
  bitsOf: (x) => x, // a v128 is either
  fromBits: (n) => n,
  and: (a, b) => `(v128.and ${a} ${b})`,
  or: (a, b) => `(v128.or ${a} ${b})`,
  shl: (n, by) => `(i64x2.shl ${n} (i32.const ${by}))`,
  shrS: (n, by) => `(i64x2.shr_s ${n} (i32.const ${by}))`,
  copysign: (x, sign) => `(v128.bitselect ${sign} ${x} (v128.const i64x2 ${-(2n ** 63n)} ${-(2n ** 63n)}))`,
};

const scalar: Lanes = {
  width: 1,
  arith: scalarArith,
  maps: mapsOf(scalarArith),
  load: (at) => `(f64.promote_f32 (f32.load ${at}))`,
  index: (i) => `(f64.convert_i32_u ${i})`,
  store: (at, value) => `(f32.store ${at} (f32.demote_f64 ${value}))`,
};

const vector: Lanes = {
  width: 2,
  arith: vectorArith,
  maps: mapsOf(vectorArith),
  load: (at, step) =>
    step
      ? `(f64x2.promote_low_f32x4 (v128.load64_zero align=4 ${at}))`
      : `(f64x2.splat (f64.promote_f32 (f32.load ${at})))`,
  index: (i, step) =>
    step
      ? `(f64x2.add (f64x2.splat (f64.convert_i32_u ${i})) (v128.const f64x2 0 1))`
      : `(f64x2.splat (f64.convert_i32_u ${i}))`,
  store: (at, value) => `(v128.store64_lane align=4 0 ${at} (f32x4.demote_f64x2_zero ${value}))`,
};

class NotRenderable extends Error {}

type Ranges = ReadonlyMap<string, readonly [number, number]>;

/** How an index moves as `inner` steps by one: 0 or 1 element (what lanes can load), else not renderable in lanes. */
const stepOf = (i: Ix, inner: string, lanes: Lanes): 0 | 1 => {
  if (lanes.width === 1 || !i.uses.has(inner)) return 0;
  const k = i.affine?.terms.get(inner);
  if (k === 1) return 1;
  throw new NotRenderable('an index that does not move by one element with the innermost loop');
};

/** The expression of node `id` at index `idx` in `lanes`, with the loop ranges known here. */
const expression = (
  spec: KernelSpec,
  ranges: Ranges,
  inner: string,
  lanes: Lanes,
  id: number,
  idx: readonly Ix[],
): string => {
  const { nodes, mat, kernel } = spec;
  const n = nodes[id];
  const t = primitiveOf(n.op).kernel;
  if (t.kind === 'const') {
    if (n.op === 'fill') return lanes.arith.float(n.attrs.value);
    if (n.op === 'iota') {
      const i = idx[n.attrs.axis];
      return lanes.index(i.wat, stepOf(i, inner, lanes));
    }
    throw new NotRenderable(n.op);
  }
  if (id === kernel.reduction) {
    // a contraction's product, row-major in the sgemm's C at $acc
    const at = ravel(affineAlgebra, idx, n.shape);
    return lanes.load(`(i32.add (local.get $acc) (i32.shl ${at.wat} (i32.const 2)))`, stepOf(at, inner, lanes));
  }
  if (id !== kernel.root && mat[id]) {
    const at = ravel(affineAlgebra, idx, n.shape);
    return lanes.load(
      `(i32.add (local.get $a${kernel.reads.indexOf(id)}) (i32.shl ${at.wat} (i32.const 2)))`,
      stepOf(at, inner, lanes),
    );
  }
  switch (t.kind) {
    case 'map': {
      const render = lanes.maps[n.op as keyof typeof primitives];
      if (!render) throw new NotRenderable(n.op);
      return render(n.inputs.map((i) => expression(spec, ranges, inner, lanes, i, idx)));
    }
    case 'view': {
      const cases = t.index(
        affineAlgebra,
        idx,
        n.attrs,
        n.inputs.map((i) => nodes[i].shape),
        n.shape,
      );
      const holds = (c: (typeof cases)[number]): boolean => {
        if (!c.when) return true;
        const a = c.when.coord.affine;
        const [v, k] = a?.terms.size === 1 ? [...a.terms][0] : [undefined, 0];
        const r = v !== undefined && k === 1 ? ranges.get(v) : undefined;
        if (!r) throw new NotRenderable('a concat condition decided per element');
        if (r[1] + a!.c <= c.when.below) return true;
        if (r[0] + a!.c >= c.when.below) return false;
        throw new NotRenderable('a concat condition decided per element');
      };
      const c = cases.find(holds)!;
      return expression(spec, ranges, inner, lanes, n.inputs[c.input], c.idx);
    }
    default:
      throw new NotRenderable(n.op);
  }
};

/** Two lanes where every load allows it, else undefined. */
const inLanes = (render: (lanes: Lanes) => string): string | undefined => {
  try {
    return render(vector);
  } catch (e) {
    if (e instanceof NotRenderable) return undefined;
    throw e;
  }
};

/**
 * The kernel as a WAT module exporting `kernel(out, a0, a1, …)` (byte offsets into the imported
 * memory), its loops over the output split at `cuts` (per axis, as the JS kernel's); undefined when
 * it cannot be rendered (see the header). For a contraction kernel, its epilogue: `kernel(out, a0,
 * a1, …, acc)` reads the product, row-major at `acc`, where the kernel's expression reads its
 * reduction (the sgemm's C).
 */
export const renderWasmElementwise = (spec: KernelSpec, cuts: readonly (readonly number[])[]): string | undefined => {
  const { kernel } = spec;
  const contraction = kernel.reduction !== undefined;
  if (contraction && primitives[spec.nodes[kernel.reduction!].op].kernel.kind !== 'contract') return undefined;
  const vars = kernel.shape.map((_, d) => `i${d}`);
  const inner = vars[vars.length - 1];
  const idx = vars.map(loopVar);
  const store = (
    lanes: Lanes,
    ranges: Ranges,
  ) => `${lanes.store('(local.get $out)', expression(spec, ranges, inner, lanes, kernel.root, idx))}
(local.set $out (i32.add (local.get $out) (i32.const ${4 * lanes.width})))`;
  // a loop over [lo, hi) of v, `width` at a time; the caller makes sure it runs at least once
  const loop = (
    v: string,
    label: string,
    lo: number,
    hi: number,
    width: number,
    body: string,
  ) => `(local.set $${v} (i32.const ${lo}))
(loop $${label}
${body}
(local.set $${v} (i32.add (local.get $${v}) (i32.const ${width})))
(br_if $${label} (i32.lt_u (local.get $${v}) (i32.const ${hi}))))`;
  const loops = (d: number, ranges: Ranges): string =>
    cuts[d]
      .slice(1)
      .map((hi, s) => {
        const [v, lo] = [vars[d], cuts[d][s]];
        const inRange = new Map(ranges).set(v, [lo, hi]);
        if (d < vars.length - 1) return loop(v, `${v}_${s}`, lo, hi, 1, loops(d + 1, inRange));
        const w = vector.width;
        const wide = hi - lo >= w ? inLanes((lanes) => store(lanes, inRange)) : undefined;
        if (wide === undefined) return loop(v, `${v}_${s}`, lo, hi, 1, store(scalar, inRange));
        // the last element: once more in lanes, ending at hi (the element it computes again comes out the
        // same: the output never shares memory with what the kernel reads)
        const split = lo + Math.floor((hi - lo) / w) * w;
        const tail =
          split < hi
            ? `
(local.set $${v} (i32.const ${hi - w}))
(local.set $out (i32.sub (local.get $out) (i32.const ${4 * (split + w - hi)})))
${wide}`
            : '';
        return `${loop(v, `${v}_${s}`, lo, split, w, wide)}${tail}`;
      })
      .join('\n');
  let body: string;
  try {
    body = vars.length ? loops(0, new Map()) : store(scalar, new Map());
  } catch (e) {
    if (e instanceof NotRenderable) return undefined;
    throw e;
  }
  const params = ['out', ...kernel.reads.map((_, i) => `a${i}`), ...(contraction ? ['acc'] : [])]
    .map((p) => `(param $${p} i32)`)
    .join(' ');
  const locals = [...vars.map((v) => `(local $${v} i32)`), mathLocals(scalarArith), mathLocals(vectorArith)].join(' ');
  return `(module (import "env" "memory" (memory 0))
(func (export "kernel") ${params} ${locals}
${body}))`;
};
