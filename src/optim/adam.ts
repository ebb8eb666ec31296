// Adam (Kingma & Ba 2015, Algorithm 1), with bias-corrected moments:
//   m ← β1·m + (1−β1)·g        v ← β2·v + (1−β2)·g²
//   θ ← θ − lr · m̂ / (√v̂ + ε)  where m̂ = m/(1−β1ᵗ), v̂ = v/(1−β2ᵗ)
// ε is added to √v̂ (as in Algorithm 1 and PyTorch), not to √v as in the paper's "efficient" form.
// With `lrHalfLife` h the rate decays exponentially, lr·2^(−(t−1)/h) at step t: computed in-graph
// from t like the corrections, so a resumed run continues the same schedule.
//
// The step t enters as a scalar input tensor and both corrections are computed in-graph from it
// (βᵗ = exp(t·ln β)), so one traced graph serves every step and the host only counts steps. The
// cost is float32 cancellation in 1−β2ᵗ on a device at small t: ~1e-4 relative at t = 1, shrinking
// as t grows; negligible next to the noise in the gradients.
import { add, mul, recip, sqrt, sub } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { checkHyper, perParam, scalarStep, slotState, type Optimizer } from './optimizer.ts';
import { powConst } from './numerics.ts';

export interface AdamHyper {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  /** Steps over which the learning rate halves (exponential decay); absent: a constant rate. */
  readonly lrHalfLife?: number;
}

const SLOTS = ['m', 'v'] as const;

export const adam = (hp: AdamHyper): Optimizer => {
  const unit = (v: number) => v >= 0 && v < 1;
  const lr = checkHyper('adam', 'lr', hp.lr, (v) => v > 0, 'positive');
  const b1 = checkHyper('adam', 'beta1', hp.beta1 ?? 0.9, unit, 'in [0, 1)');
  const b2 = checkHyper('adam', 'beta2', hp.beta2 ?? 0.999, unit, 'in [0, 1)');
  const eps = checkHyper('adam', 'eps', hp.eps ?? 1e-8, (v) => v > 0, 'positive');
  const halfLife =
    hp.lrHalfLife === undefined ? undefined : checkHyper('adam', 'lrHalfLife', hp.lrHalfLife, (v) => v > 0, 'positive');
  /** lr at step t: constant, or halved every `halfLife` steps from step 1. */
  const rate = (t: Tensor): Tensor | number =>
    halfLife === undefined ? lr : mul(powConst(0.5 ** (1 / halfLife), sub(t, 1)), lr);
  return {
    name: 'adam',
    hyper: { lr, beta1: b1, beta2: b2, eps, ...(halfLife === undefined ? {} : { lrHalfLife: halfLife }) },
    ...slotState(SLOTS),
    update: (params, grads, state, step) => {
      const t = scalarStep('adam', step);
      // Scalars shared by every parameter (hash-consing makes them one node each).
      const c1 = recip(sub(1, powConst(b1, t)));
      const c2 = recip(sub(1, powConst(b2, t)));
      const lrc = mul(c1, rate(t));
      return perParam('adam', SLOTS, params, grads, state, (p: Tensor, g: Tensor, { m, v }) => {
        const m1 = add(mul(m, b1), mul(g, 1 - b1));
        const v1 = add(mul(v, b2), mul(mul(g, g), 1 - b2));
        const delta = mul(mul(m1, lrc), recip(add(sqrt(mul(v1, c2)), eps)));
        return { param: sub(p, delta), slots: { m: m1, v: v1 } };
      });
    },
  };
};
