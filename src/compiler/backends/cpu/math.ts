// Elementwise functions the CPU kernels call instead of V8's Math ones where those are slow. Math.tanh
// costs ~24 ns an element here (an fdlibm call in double precision), and the LSTM runs it on every
// gate; results are stored as float32, so a float32-accurate rational approximation is enough.

/** Where the rational fit below holds (Eigen clamps there); outside it, and for NaN, Math.tanh. */
const TANH_FIT = 7.90531110763549805;

/**
 * tanh to within 2 float32 ulp (Eigen's generic_fast_tanh_float: an odd 13/6-degree rational
 * minimax fit on |x| < 7.9), ~6 ns an element against Math.tanh's ~24 (bench/NOTES.md).
 */
export const tanh32 = (x: number): number => {
  if (!(x > -TANH_FIT && x < TANH_FIT)) return Math.tanh(x);
  const x2 = x * x;
  const p =
    x *
    ((((((-2.76076847742355e-16 * x2 + 2.00018790482477e-13) * x2 - 8.60467152213735e-11) * x2 + 5.12229709037114e-8) *
      x2 +
      1.48572235717979e-5) *
      x2 +
      6.37261928875436e-4) *
      x2 +
      4.89352455891786e-3);
  const q = ((1.19825839466702e-6 * x2 + 1.18534705686654e-4) * x2 + 2.268434632439e-3) * x2 + 4.89352518554385e-3;
  return p / q;
};

/** What generated kernels get as `lib`. */
export const cpuLib = { tanh32 } as const;

/** Opening line of every kernel factory: binds the helpers to locals (V8 inlines calls to them). */
export const cpuLibPrelude = `const { ${Object.keys(cpuLib).join(', ')} } = lib;`;

/**
 * CPU renderings of elementwise primitives, by op, in place of the primitive table's. The table's tanh
 * clamps its argument to ±20 against GPU float overflow, which Math.tanh does not need.
 */
export const cpuMaps: Readonly<Record<string, (args: readonly string[]) => string>> = {
  tanh: ([x]) => `tanh32(${x})`,
};
