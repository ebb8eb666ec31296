// tanh, exp and log as WAT expressions for the WebAssembly kernels, written once over `Arith`: one
// f32 lane or four (f32x4), where WebAssembly has no instruction for them (JS kernels call Math's).
// Float32 algorithms: tanh as Eigen's generic_fast_tanh_float (the JS kernels' tanh32, math.ts);
// exp and log as Cephes' expf and logf (range reduction by powers of two, minimax polynomials,
// the exponent set or read through the bits). test/wasm-elementwise.test.ts checks each against
// Math's over 2^20 float32 bit patterns and the edges: tanh within 5 ulp, exp and log within 1.

/** How one lane or four spell the operations the functions below need. Locals are named `${prefix}…`. */
export interface Arith {
  /** The float type's instruction prefix, and the integer one's. */
  readonly t: 'f32' | 'f32x4';
  readonly i: 'i32' | 'i32x4';
  readonly prefix: string;
  float(v: number): string;
  int(v: number): string;
  /** a where `mask` holds, else b (a scalar condition, or a lane mask). */
  select(a: string, b: string, mask: string): string;
  /** float → int (truncating, saturating: NaN gives 0), int → float, and the bits of one as the other. */
  toInt(x: string): string;
  toFloat(n: string): string;
  bitsOf(x: string): string;
  fromBits(n: string): string;
  and(a: string, b: string): string;
  or(a: string, b: string): string;
}

/** The locals the functions below use: floats x, x2, n, r, p and an integer k (all v128 in four lanes). */
export const mathLocals = (A: Arith): string =>
  [...['x', 'x2', 'n', 'r', 'p'].map((l) => `(local $${A.prefix}${l} ${A.t === 'f32' ? 'f32' : 'v128'})`), `(local $${A.prefix}k ${A.t === 'f32' ? 'i32' : 'v128'})`].join(' ');

const horner = (A: Arith, z: string, cs: readonly number[]): string =>
  cs.slice(1).reduce((acc, c) => `(${A.t}.add (${A.t}.mul ${acc} ${z}) ${A.float(c)})`, A.float(cs[0]));

const set = (A: Arith, name: string, value: string): string => `(local.set $${A.prefix}${name} ${value})`;
const get = (A: Arith, name: string): string => `(local.get $${A.prefix}${name})`;
const block = (A: Arith, ...body: string[]): string => `(block (result ${A.t === 'f32' ? 'f32' : 'v128'})\n${body.join('\n')})`;

/**
 * tanh: the odd 13/6 rational fit on |x| < 7.905…, the argument clamped there (a NaN stays NaN), and x
 * itself below |x| < 0.0004 (there x³/3 is under half an ulp, and the fit's products would go subnormal).
 */
export const tanhWat = (A: Arith, x: string): string => {
  const fit = 7.90531110763549805;
  const z = get(A, 'x2');
  return block(A,
    set(A, 'x', `(${A.t}.max ${A.float(-fit)} (${A.t}.min ${A.float(fit)} ${x}))`),
    set(A, 'x2', `(${A.t}.mul ${get(A, 'x')} ${get(A, 'x')})`),
    A.select(get(A, 'x'),
      `(${A.t}.div (${A.t}.mul ${get(A, 'x')} ${horner(A, z, [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-8, 1.48572235717979e-5, 6.37261928875436e-4, 4.89352455891786e-3])}) ${horner(A, z, [1.19825839466702e-6, 1.18534705686654e-4, 2.268434632439e-3, 4.89352518554385e-3])})`,
      `(${A.t}.lt (${A.t}.abs ${get(A, 'x')}) ${A.float(0.0004)})`));
};

/** 2^n for an integer n in [-126, 127], from its bits. */
const pow2 = (A: Arith, n: string): string => A.fromBits(`(${A.i}.shl (${A.i}.add ${n} ${A.int(127)}) ${'(i32.const 23)'})`);

/**
 * exp: x = n·ln 2 + r with |r| ≤ ½ ln 2 (ln 2 in two parts), e^r by a degree-7 polynomial, times 2^n as
 * two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋) so that results down to the subnormals round once. x is clamped
 * to [−104, 89] first: beyond, the result is 0 or ∞ either way; a NaN stays NaN.
 */
export const expWat = (A: Arith, x: string): string => {
  const r = get(A, 'r');
  const n = get(A, 'k'); // n as an integer (bits)
  return block(A,
    set(A, 'x', `(${A.t}.max ${A.float(-104)} (${A.t}.min ${A.float(89)} ${x}))`),
    set(A, 'n', `(${A.t}.nearest (${A.t}.mul ${get(A, 'x')} ${A.float(Math.LOG2E)}))`),
    set(A, 'r', `(${A.t}.add (${A.t}.sub ${get(A, 'x')} (${A.t}.mul ${get(A, 'n')} ${A.float(0.693359375)})) (${A.t}.mul ${get(A, 'n')} ${A.float(2.12194440e-4)}))`),
    set(A, 'p', `(${A.t}.add (${A.t}.add (${A.t}.mul ${horner(A, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1])} (${A.t}.mul ${r} ${r})) ${r}) ${A.float(1)})`),
    set(A, 'k', A.toInt(get(A, 'n'))),
    `(${A.t}.mul (${A.t}.mul ${get(A, 'p')} ${pow2(A, `(${A.i}.shr_s ${n} (i32.const 1))`)}) ${pow2(A, `(${A.i}.sub ${n} (${A.i}.shr_s ${n} (i32.const 1)))`)})`);
};

/**
 * log: subnormals scaled by 2^23 first; x = 2^e·m with m in [√½, √2), log(1 + (m − 1)) by a degree-9
 * polynomial, e·ln 2 added in two parts; 0 gives −∞, +∞ gives +∞, below 0 or NaN gives NaN.
 */
export const logWat = (A: Arith, x: string): string => {
  const tiny = 1.1754943508222875e-38; // the smallest normal float32
  const m = get(A, 'r');
  const z = get(A, 'x2');
  const e = get(A, 'n'); // the exponent, as a float
  const belowHalfRoot = `(${A.t}.lt ${m} ${A.float(Math.SQRT1_2)})`;
  return block(A,
    set(A, 'x', x),
    set(A, 'p', A.select(`(${A.t}.mul ${get(A, 'x')} ${A.float(2 ** 23)})`, get(A, 'x'), `(${A.t}.lt ${get(A, 'x')} ${A.float(tiny)})`)),
    set(A, 'k', A.bitsOf(get(A, 'p'))),
    // e = biased exponent − 126, less 23 for a scaled subnormal; m in [½, 1)
    set(A, 'n', `(${A.t}.sub (${A.t}.sub ${A.toFloat(`(${A.i}.shr_u ${A.and(get(A, 'k'), A.int(0x7f800000))} (i32.const 23))`)} ${A.float(126)}) ${A.select(A.float(23), A.float(0), `(${A.t}.lt ${get(A, 'x')} ${A.float(tiny)})`)})`),
    set(A, 'r', A.fromBits(A.or(A.and(get(A, 'k'), A.int(0x007fffff)), A.int(0x3f000000)))),
    // below √½: e − 1 and 2m − 1; else m − 1 (both tests read m before it changes)
    set(A, 'n', `(${A.t}.sub ${e} ${A.select(A.float(1), A.float(0), belowHalfRoot)})`),
    set(A, 'r', A.select(`(${A.t}.sub (${A.t}.add ${m} ${m}) ${A.float(1)})`, `(${A.t}.sub ${m} ${A.float(1)})`, belowHalfRoot)),
    set(A, 'x2', `(${A.t}.mul ${m} ${m})`),
    set(A, 'p', `(${A.t}.mul (${A.t}.mul ${m} ${z}) ${horner(A, m, [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1])})`),
    set(A, 'p', `(${A.t}.sub (${A.t}.add ${get(A, 'p')} (${A.t}.mul ${e} ${A.float(-2.12194440e-4)})) (${A.t}.mul ${z} ${A.float(0.5)}))`),
    set(A, 'p', `(${A.t}.add (${A.t}.add ${m} ${get(A, 'p')}) (${A.t}.mul ${e} ${A.float(0.693359375)}))`),
    A.select(A.float(-Infinity), A.select(A.float(Infinity), A.select(get(A, 'p'), A.float(NaN), `(${A.t}.ge ${get(A, 'x')} ${A.float(0)})`),
      `(${A.t}.eq ${get(A, 'x')} ${A.float(Infinity)})`), `(${A.t}.eq ${get(A, 'x')} ${A.float(0)})`));
};
