// Scalar-ish helpers the optimisers need but the primitive set lacks (there is no sqrt or pow
// primitive). Written with the DSL so they trace and compile like everything else.
import { add, exp, log, mul, zerosLike } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';

/**
 * Keeps log's argument positive: log(0) is undefined in GLSL. Small enough that the shift is far
 * below float32 resolution for any value that matters (Adam's ε is ~1e-8, so √(1e-30) = 1e-15 is
 * invisible), yet a normal float32. Added rather than max-ed so that NaN and Inf still propagate
 * (a GPU max may drop a NaN), which the host-side finiteness guard relies on.
 */
const TINY = 1e-30;

/** √x for x ≥ 0, as exp(½·log(x + 1e-30)). */
export const sqrtNonNeg = (x: Tensor): Tensor => exp(mul(log(add(x, TINY)), 0.5));

/**
 * base^t for a constant base in [0, 1) and a tensor exponent t ≥ 1, as exp(t·ln base). A zero
 * base is special-cased because ln 0 = −∞ cannot be written into a kernel.
 */
export const powConst = (base: number, t: Tensor): Tensor =>
  base === 0 ? zerosLike(t) : exp(mul(t, Math.log(base)));
