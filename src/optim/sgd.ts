// Stochastic gradient descent with optional heavy-ball or Nesterov momentum, in PyTorch's
// formulation (no dampening), so hyper-parameters carry over from there:
//   b ← μ·b + g;   d = g + μ·b (Nesterov) or b;   θ ← θ − lr·d
// Without momentum there is no state at all, and the step number is unused by both forms.
import { add, mul, sub } from '../dsl/ops.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { checkHyper, perParam, slotState, type Optimizer } from './optimizer.ts';

export interface SgdHyper {
  readonly lr: number;
  readonly momentum?: number;
  readonly nesterov?: boolean;
}

export const sgd = (hp: SgdHyper): Optimizer => {
  const lr = checkHyper('sgd', 'lr', hp.lr, (v) => v > 0, 'positive');
  const mu = checkHyper('sgd', 'momentum', hp.momentum ?? 0, (v) => v >= 0 && v < 1, 'in [0, 1)');
  const nesterov = hp.nesterov ?? false;
  if (nesterov && mu === 0) throw new RangeError('sgd: nesterov needs a positive momentum');
  const slots = mu > 0 ? ['velocity'] : [];
  return {
    name: 'sgd',
    hyper: { lr, momentum: mu, nesterov },
    ...slotState(slots),
    update: (params, grads, state) =>
      perParam('sgd', slots, params, grads, state, (p, g, { velocity }) => {
        if (!velocity) return { param: sub(p, mul(g, lr)), slots: {} as Record<string, Tensor> };
        const b = add(mul(velocity, mu), g);
        const d = nesterov ? add(g, mul(b, mu)) : b;
        return { param: sub(p, mul(d, lr)), slots: { velocity: b } };
      }),
  };
};
