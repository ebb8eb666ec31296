// Scalar-ish helpers the optimisers need but the primitive set lacks (there is no pow primitive).
// Written with the DSL so they trace and compile like everything else.
import { exp, mul, zerosLike } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';

/**
 * base^t for a constant base in [0, 1) and a tensor exponent t ≥ 1, as exp(t·ln base). A zero
 * base is special-cased because ln 0 = −∞ cannot be written into a kernel.
 */
export const powConst = (base: number, t: Tensor): Tensor => (base === 0 ? zerosLike(t) : exp(mul(t, Math.log(base))));
