// Elementwise kernels as WebAssembly. A JS typed-array loop costs ~1.6 ns an element even for a·b
// (V8 neither vectorises nor drops the bounds checks), the same loop in WebAssembly ~0.46 ns
// (bench/NOTES.md). A fused elementwise kernel is rendered here from its expression tree as one WAT
// function over byte offsets into the program's memory: the same loop nest as the JS kernel (split
// where concat conditions change, so none is tested per element), f32 arithmetic, loads at index
// expressions built with an index algebra whose values are WAT i32 expressions that also carry their
// affine form (what decides a concat condition over a loop's range). A kernel with anything not in
// the table below (exp, log: Math functions with no WebAssembly instruction), or a condition its
// ranges leave open, stays JavaScript: `renderWasmElementwise` returns undefined.
import { primitives } from '../../../dsl/primitives.ts';
import { ravel, type IndexAlgebra } from '../../../dsl/indexing.ts';
import type { KernelSpec } from '../backend.ts';

/** An i32 index expression, and its affine form over the loop variables when it has one. */
interface Ix {
  readonly wat: string;
  readonly affine?: { readonly c: number; readonly terms: ReadonlyMap<string, number> };
}

const constant = (n: number): Ix => ({ wat: `(i32.const ${n})`, affine: { c: n, terms: new Map() } });
const isConstant = (e: Ix): e is Ix & { affine: { c: number } } => e.affine !== undefined && e.affine.terms.size === 0;

const affineAlgebra: IndexAlgebra<Ix> = {
  lit: constant,
  add: (a, b) => {
    if (isConstant(a) && a.affine.c === 0) return b;
    if (isConstant(b) && b.affine.c === 0) return a;
    if (isConstant(a) && isConstant(b)) return constant(a.affine.c + b.affine.c);
    const affine = a.affine && b.affine && {
      c: a.affine.c + b.affine.c,
      terms: new Map([...a.affine.terms, ...[...b.affine.terms].map(([v, k]) => [v, k + (a.affine!.terms.get(v) ?? 0)] as const)]),
    };
    return { wat: `(i32.add ${a.wat} ${b.wat})`, affine };
  },
  mul: (a, k) => {
    if (k === 0) return constant(0);
    if (k === 1) return a;
    if (isConstant(a)) return constant(a.affine.c * k);
    const affine = a.affine && { c: a.affine.c * k, terms: new Map([...a.affine.terms].map(([v, m]) => [v, m * k] as const)) };
    return { wat: `(i32.mul ${a.wat} (i32.const ${k}))`, affine };
  },
  // indices are never negative, so unsigned division is floor division
  div: (a, k) => (k === 1 ? a : isConstant(a) ? constant(Math.floor(a.affine.c / k)) : { wat: `(i32.div_u ${a.wat} (i32.const ${k}))` }),
  mod: (a, k) => (k === 1 ? constant(0) : isConstant(a) ? constant(a.affine.c % k) : { wat: `(i32.rem_u ${a.wat} (i32.const ${k}))` }),
};

/** A float as a WAT literal. */
const f32 = (v: number): string => `(f32.const ${Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : v})`;

/**
 * tanh as the JS kernels' tanh32 (math.ts), in f32: the odd 13/6 rational fit of Eigen's
 * generic_fast_tanh_float on |x| < 7.905…, the argument clamped there (a NaN stays NaN), and x itself
 * below |x| < 0.0004 (there x³/3 is under half an ulp, and the fit's products would go subnormal).
 */
const tanhF32 = (x: string): string => {
  const p = [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-8, 1.48572235717979e-5, 6.37261928875436e-4, 4.89352455891786e-3];
  const q = [1.19825839466702e-6, 1.18534705686654e-4, 2.268434632439e-3, 4.89352518554385e-3];
  const horner = (cs: number[]) => cs.slice(1).reduce((acc, c) => `(f32.add (f32.mul ${acc} (local.get $x2)) ${f32(c)})`, f32(cs[0]));
  return `(block (result f32)
  (local.set $x (f32.max ${f32(-7.90531110763549805)} (f32.min ${f32(7.90531110763549805)} ${x})))
  (local.set $x2 (f32.mul (local.get $x) (local.get $x)))
  (select (local.get $x) (f32.div (f32.mul (local.get $x) ${horner(p)}) ${horner(q)}) (f32.lt (f32.abs (local.get $x)) ${f32(0.0004)})))`;
};

/**
 * The elementwise primitives in f32 WAT. Missing here: exp and log (no WebAssembly instruction; a
 * kernel with them stays JavaScript, whose Math functions they are).
 */
const wasmMaps: Partial<Record<keyof typeof primitives, (args: readonly string[]) => string>> = {
  tanh: ([x]) => tanhF32(x),
  sqrt: ([x]) => `(f32.sqrt ${x})`,
  recip: ([x]) => `(f32.div ${f32(1)} ${x})`,
  materialize: ([x]) => x,
  add: ([a, b]) => `(f32.add ${a} ${b})`,
  mul: ([a, b]) => `(f32.mul ${a} ${b})`,
  max: ([a, b]) => `(f32.max ${a} ${b})`,
  less: ([a, b]) => `(select ${f32(1)} ${f32(0)} (f32.lt ${a} ${b}))`,
  where: ([c, a, b]) => `(select ${a} ${b} (f32.gt ${c} ${f32(0)}))`,
};

class NotRenderable extends Error {}

type Ranges = ReadonlyMap<string, readonly [number, number]>;

/** The f32 expression of node `id` at index `idx`, with the loop ranges known here. */
const expression = (spec: KernelSpec, ranges: Ranges, id: number, idx: readonly Ix[]): string => {
  const { nodes, mat, kernel } = spec;
  const n = nodes[id];
  const t = primitives[n.op].kernel;
  if (id !== kernel.root && mat[id]) {
    if (t.kind === 'const' && n.op === 'fill') return f32((n.attrs as { value: number }).value);
    const at = ravel(affineAlgebra, idx, n.shape);
    return `(f32.load (i32.add (local.get $a${kernel.reads.indexOf(id)}) (i32.shl ${at.wat} (i32.const 2))))`;
  }
  switch (t.kind) {
    case 'const':
      if (n.op === 'fill') return f32((n.attrs as { value: number }).value);
      if (n.op === 'iota') return `(f32.convert_i32_u ${idx[(n.attrs as { axis: number }).axis].wat})`;
      throw new NotRenderable(n.op);
    case 'map': {
      const render = wasmMaps[n.op as keyof typeof primitives];
      if (!render) throw new NotRenderable(n.op);
      return render(n.inputs.map((i) => expression(spec, ranges, i, idx)));
    }
    case 'view': {
      const cases = t.index(affineAlgebra, idx, n.attrs as never, n.inputs.map((i) => nodes[i].shape), n.shape);
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
      return expression(spec, ranges, n.inputs[c.input], c.idx);
    }
    default:
      throw new NotRenderable(n.op);
  }
};

/**
 * The kernel as a WAT module exporting `kernel(out, a0, a1, …)` (byte offsets into the imported
 * memory), its loops over the output split at `cuts` (per axis, as the JS kernel's); undefined when
 * it cannot be rendered (see the header).
 */
export const renderWasmElementwise = (spec: KernelSpec, cuts: readonly (readonly number[])[]): string | undefined => {
  const { kernel } = spec;
  if (kernel.reduction !== undefined) return undefined;
  const vars = kernel.shape.map((_, d) => `i${d}`);
  const loops = (d: number, ranges: Ranges): string => {
    if (d === vars.length) {
      const idx = vars.map((v) => ({ wat: `(local.get $${v})`, affine: { c: 0, terms: new Map([[v, 1]]) } }));
      return `(f32.store (local.get $out) ${expression(spec, ranges, kernel.root, idx)})
(local.set $out (i32.add (local.get $out) (i32.const 4)))`;
    }
    const v = vars[d];
    return cuts[d].slice(1).map((hi, s) => {
      const lo = cuts[d][s];
      // ranges are never empty, so each loop tests at its end
      return `(local.set $${v} (i32.const ${lo}))
(loop $next_${v}_${s}
${loops(d + 1, new Map(ranges).set(v, [lo, hi]))}
(local.set $${v} (i32.add (local.get $${v}) (i32.const 1)))
(br_if $next_${v}_${s} (i32.lt_u (local.get $${v}) (i32.const ${hi}))))`;
    }).join('\n');
  };
  let body: string;
  try {
    body = loops(0, new Map());
  } catch (e) {
    if (e instanceof NotRenderable) return undefined;
    throw e;
  }
  const params = ['out', ...kernel.reads.map((_, i) => `a${i}`)].map((p) => `(param $${p} i32)`).join(' ');
  const locals = [...vars.map((v) => `(local $${v} i32)`), '(local $x f32) (local $x2 f32)'].join(' ');
  return `(module (import "env" "memory" (memory 0))
(func (export "kernel") ${params} ${locals}
${body}))`;
};
