// tanh, exp and log as WAT expressions for the WebAssembly kernels, written once over `Arith`: one
// f64 lane or two (f64x2), where WebAssembly has no instruction for them. The kernels compute in
// float64 and round once when they store, as the JS kernels do (float32 arithmetic throughout made
// training worse: bench/NOTES.md), so these are float64 algorithms, close enough to Math's that the
// float32 results agree: tanh is the JS kernels' own rational fit (math.ts's tanh32, the same
// operations in the same order) and 1 − 2/(e^{2|x|} + 1) beyond it; exp and log reduce by powers of
// two (the exponent set or read through the bits) and sum a Taylor series to float64 precision.
// test/wasm-elementwise.test.ts checks each against Math's over 2^20 float32 bit patterns and the edges.

/** How one lane or two spell the operations the functions below need. Locals are named `${prefix}…`. */
export interface Arith {
  /** The float type's instruction prefix, and the integer one's. */
  readonly t: 'f64' | 'f64x2';
  readonly i: 'i64' | 'i64x2';
  readonly prefix: string;
  float(v: number): string;
  /** An integer constant (as a bigint: float64 bit patterns pass 2^53). */
  int(v: bigint): string;
  /** a where `mask` holds, else b (a scalar condition, or a lane mask). */
  select(a: string, b: string, mask: string): string;
  /** Whether `mask` holds in any lane, as an i32. */
  any(mask: string): string;
  /** float → int (an integer-valued float within ±2^31), int in [0, 2^52) → float, and the bits of one as the other. */
  toInt(x: string): string;
  toFloat(n: string): string;
  bitsOf(x: string): string;
  fromBits(n: string): string;
  and(a: string, b: string): string;
  or(a: string, b: string): string;
  /** Shifts by a constant count. */
  shl(n: string, by: number): string;
  shrS(n: string, by: number): string;
  /** x's magnitude with `sign`'s sign. */
  copysign(x: string, sign: string): string;
}

const FLOAT_LOCALS = ['a', 'x', 'x2', 'n', 'r', 'p', 't'] as const;

/** The locals the functions below use: the floats above and an integer k (all v128 in two lanes). */
export const mathLocals = (A: Arith): string =>
  [
    ...FLOAT_LOCALS.map((l) => `(local $${A.prefix}${l} ${A.t === 'f64' ? 'f64' : 'v128'})`),
    `(local $${A.prefix}k ${A.t === 'f64' ? 'i64' : 'v128'})`,
  ].join(' ');

const horner = (A: Arith, z: string, cs: readonly number[]): string =>
  cs.slice(1).reduce((acc, c) => `(${A.t}.add (${A.t}.mul ${acc} ${z}) ${A.float(c)})`, A.float(cs[0]));

const set = (A: Arith, name: string, value: string): string => `(local.set $${A.prefix}${name} ${value})`;
const get = (A: Arith, name: string): string => `(local.get $${A.prefix}${name})`;
const block = (A: Arith, ...body: string[]): string =>
  `(block (result ${A.t === 'f64' ? 'f64' : 'v128'})\n${body.join('\n')})`;
const op = (A: Arith, name: string, ...args: string[]): string => `(${A.t}.${name} ${args.join(' ')})`;

/** 1/k! for k = hi down to lo. */
const inverseFactorials = (hi: number, lo: number): number[] => {
  const out: number[] = [];
  for (let k = hi; k >= lo; k--) {
    let f = 1;
    for (let j = 2; j <= k; j++) f *= j;
    out.push(1 / f);
  }
  return out;
};

/** Where math.ts's rational tanh fit holds. */
const TANH_FIT = 7.90531110763549805;

/**
 * tanh: below |x| < 7.905… math.ts's tanh32 (its odd 13/6 rational fit, in the same order); beyond,
 * ±(1 − 2/(e^{2|x|} + 1)), computed only when some lane needs it; a NaN stays NaN.
 */
export const tanhWat = (A: Arith, x: string): string => {
  const z = get(A, 'x2');
  const beyond = op(A, 'ge', op(A, 'abs', get(A, 'a')), A.float(TANH_FIT));
  const far = op(
    A,
    'sub',
    A.float(1),
    op(A, 'div', A.float(2), op(A, 'add', expWat(A, op(A, 'mul', op(A, 'abs', get(A, 'a')), A.float(2))), A.float(1))),
  );
  return block(
    A,
    set(A, 'a', x),
    // clamped, so that the fit's polynomials stay finite in lanes that take the other branch
    set(A, 'x', op(A, 'max', A.float(-TANH_FIT), op(A, 'min', A.float(TANH_FIT), get(A, 'a')))),
    set(A, 'x2', op(A, 'mul', get(A, 'x'), get(A, 'x'))),
    set(
      A,
      't',
      op(
        A,
        'div',
        op(
          A,
          'mul',
          get(A, 'x'),
          horner(
            A,
            z,
            [
              -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-8,
              1.48572235717979e-5, 6.37261928875436e-4, 4.89352455891786e-3,
            ],
          ),
        ),
        horner(A, z, [1.19825839466702e-6, 1.18534705686654e-4, 2.268434632439e-3, 4.89352518554385e-3]),
      ),
    ),
    `(if (result ${A.t === 'f64' ? 'f64' : 'v128'}) ${A.any(beyond)}
(then ${A.select(A.copysign(far, get(A, 'a')), get(A, 't'), beyond)})
(else ${get(A, 't')}))`,
  );
};

/** 2^n for an integer n in [−1022, 1023], from its bits. */
const pow2 = (A: Arith, n: string): string => A.fromBits(A.shl(`(${A.i}.add ${n} ${A.int(1023n)})`, 52));

/** ln 2 in two parts: the first has 32 trailing zero bits, so n·LN2_HI is exact for |n| < 2^21 (fdlibm's). */
const LN2_HI = 6.9314718036912381649e-1;
const LN2_LO = 1.90821492927058770002e-10;

/**
 * exp: x = n·ln 2 + r with |r| ≤ ½ ln 2, e^r by its Taylor series to r¹³ (the rest is under 2^−56
 * of it), times 2^n as two factors 2^⌊n/2⌋·2^(n−⌊n/2⌋) so that results down to the subnormals round
 * once. x is clamped to [−746, 710] first: beyond, the result is 0 or ∞ either way; a NaN stays NaN.
 */
export const expWat = (A: Arith, x: string): string => {
  const r = get(A, 'r');
  const n = get(A, 'k'); // n as an integer
  return block(
    A,
    set(A, 'x', op(A, 'max', A.float(-746), op(A, 'min', A.float(710), x))),
    set(A, 'n', op(A, 'nearest', op(A, 'mul', get(A, 'x'), A.float(Math.LOG2E)))),
    set(
      A,
      'r',
      op(
        A,
        'sub',
        op(A, 'sub', get(A, 'x'), op(A, 'mul', get(A, 'n'), A.float(LN2_HI))),
        op(A, 'mul', get(A, 'n'), A.float(LN2_LO)),
      ),
    ),
    set(
      A,
      'p',
      op(
        A,
        'add',
        op(A, 'add', op(A, 'mul', horner(A, r, inverseFactorials(13, 2)), op(A, 'mul', r, r)), r),
        A.float(1),
      ),
    ),
    set(A, 'k', A.toInt(get(A, 'n'))),
    op(A, 'mul', op(A, 'mul', get(A, 'p'), pow2(A, A.shrS(n, 1))), pow2(A, `(${A.i}.sub ${n} ${A.shrS(n, 1)})`)),
  );
};

/** The odd series 2·atanh(s) = log((1 + s)/(1 − s)) after its first term 2s: 2/3 + 2z/5 + … + 2z⁹/21 in z = s². */
const ATANH_SERIES = [21, 19, 17, 15, 13, 11, 9, 7, 5, 3].map((k) => 2 / k);

/**
 * log: subnormals scaled by 2^54 first; x = 2^e·m with m in [√½, √2), log m = 2·atanh(s) with
 * s = (m − 1)/(m + 1), |s| ≤ 0.172, summed to s²¹ (the rest is under 2^−56 of it), e·ln 2 added in
 * two parts; 0 gives −∞, +∞ gives +∞, below 0 or NaN gives NaN.
 */
export const logWat = (A: Arith, x: string): string => {
  const tiny = 2.2250738585072014e-308; // the smallest normal float64
  const scaled = op(A, 'lt', get(A, 'x'), A.float(tiny));
  const f = get(A, 'r'); // m − 1
  const s = get(A, 'a');
  const e = get(A, 'n'); // the exponent, as a float
  const belowHalfRoot = op(A, 'lt', get(A, 't'), A.float(Math.SQRT1_2));
  return block(
    A,
    set(A, 'x', x),
    set(A, 'p', A.select(op(A, 'mul', get(A, 'x'), A.float(2 ** 54)), get(A, 'x'), scaled)),
    set(A, 'k', A.bitsOf(get(A, 'p'))),
    // e = biased exponent − 1022, less 54 for a scaled subnormal; m in [½, 1) (in t)
    set(
      A,
      'n',
      op(
        A,
        'sub',
        op(A, 'sub', A.toFloat(A.and(A.shrS(get(A, 'k'), 52), A.int(0x7ffn))), A.float(1022)),
        A.select(A.float(54), A.float(0), scaled),
      ),
    ),
    set(A, 't', A.fromBits(A.or(A.and(get(A, 'k'), A.int(0x000fffffffffffffn)), A.int(0x3fe0000000000000n)))),
    // below √½: e − 1 and 2m − 1; else m − 1 (both read m before e changes)
    set(
      A,
      'r',
      A.select(
        op(A, 'sub', op(A, 'add', get(A, 't'), get(A, 't')), A.float(1)),
        op(A, 'sub', get(A, 't'), A.float(1)),
        belowHalfRoot,
      ),
    ),
    set(A, 'n', op(A, 'sub', e, A.select(A.float(1), A.float(0), belowHalfRoot))),
    set(A, 'a', op(A, 'div', f, op(A, 'add', f, A.float(2)))),
    set(A, 'x2', op(A, 'mul', s, s)),
    // e·ln2_hi + (2s + (2s·z·(1/3 + z/5 + …) + e·ln2_lo))
    set(
      A,
      'p',
      op(
        A,
        'add',
        op(A, 'mul', e, A.float(LN2_HI)),
        op(
          A,
          'add',
          op(A, 'add', s, s),
          op(
            A,
            'add',
            op(A, 'mul', op(A, 'mul', s, get(A, 'x2')), horner(A, get(A, 'x2'), ATANH_SERIES)),
            op(A, 'mul', e, A.float(LN2_LO)),
          ),
        ),
      ),
    ),
    A.select(
      A.float(-Infinity),
      A.select(
        A.float(Infinity),
        A.select(get(A, 'p'), A.float(NaN), op(A, 'ge', get(A, 'x'), A.float(0))),
        op(A, 'eq', get(A, 'x'), A.float(Infinity)),
      ),
      op(A, 'eq', get(A, 'x'), A.float(0)),
    ),
  );
};
