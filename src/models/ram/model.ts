// A recurrent attention classifier built from DRAW's parts (paper §4.1, "differentiable RAM"): an
// LSTM that at each of T glimpses reads one N×N patch of the image through DRAW's attentive read,
// placed by its previous state, and classifies from its final state with softmax cross-entropy.
// There is no error image and no decoder: the same attend / filterbank / filterRead composites as
// DRAW's read, in another model, with no gradient or kernel code of its own.
import type * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../../dsl/shape.ts';
import { ShapeError, fmt, sameShape } from '../../dsl/shape.ts';
import type { Tensor } from '../../dsl/tensor.ts';
import { mul, reshape, sub, sum } from '../../dsl/ops.ts';
import { logsumexp, mean } from '../../dsl/composites.ts';
import { objectiveGraphs } from '../graphs.ts';
import type { Graph } from '../../compiler/graph.ts';
import { affine, dense, initialise, prefixed, scope, shapesOf, type ParamSpecs, type Params } from '../draw/params.ts';
import { lstmParams, rnnStep, zeroState } from '../draw/lstm.ts';
import { attend, attentionParams, filterRead, filterbank, type Attention } from '../draw/filterbank.ts';
import { attentionOutputs } from '../draw/model.ts';
import { checkRamConfig, type RamConfig } from './config.ts';

/**
 * Every parameter, by name: `read.attn.w`, `read.attn.b` (h_{t−1} → the five attention numbers,
 * started as DRAW's read: a centred grid spanning the image), `lstm.w`, `lstm.b` (over the C·N²
 * patch values), `out.w`, `out.b` (h_T → class logits).
 */
export const ramParamSpecs = (config: RamConfig): ParamSpecs => {
  const c = checkRamConfig(config);
  return {
    ...prefixed('read.attn.', attentionParams(c.hidden, c.N, c.A, c.B, 'read')),
    ...prefixed('lstm.', lstmParams(c.channels * c.N * c.N, c.hidden)),
    ...prefixed('out.', dense(c.hidden, c.classes)),
  };
};

/** Data inputs: images x [batch, C·B·A] and one-hot labels y [batch, classes]. */
export const ramDataSpecs = (c: RamConfig, batch: number): { x: Shape; y: Shape } => ({
  x: [batch, c.channels * c.B * c.A],
  y: [batch, c.classes],
});

export interface RamData {
  readonly x: Tensor;
  readonly y: Tensor;
}

interface Forward {
  readonly logits: Tensor;
  readonly glimpses: readonly Attention[];
}

const forward = (c: RamConfig, p: Params, x: Tensor): Forward => {
  const batch = x.shape[0];
  const want = ramDataSpecs(c, batch).x;
  if (!sameShape(x.shape, want)) throw new ShapeError(`classifier: x has shape ${fmt(x.shape)}, expected ${fmt(want)}`);
  const images = reshape(x, [batch, c.channels, c.B, c.A]);
  const [attn, lstm] = [scope(p, 'read.attn.'), scope(p, 'lstm.')];
  const glimpses: Attention[] = [];
  let state = zeroState(batch, c.hidden);
  for (let t = 0; t < c.T; t++) {
    const at = attend(attn, state.h, c.N, c.A, c.B); // where to look, from h_{t−1}
    const F = filterbank(at.gx, at.gy, at.sigma2, at.delta, c.N, c.A, c.B);
    const patch = reshape(filterRead(F, at.gamma, images), [batch, c.channels * c.N * c.N]);
    state = rnnStep(lstm, patch, state); // h_t = LSTM(h_{t−1}, glimpse_t)
    glimpses.push(at);
  }
  return { logits: affine(scope(p, 'out.'), state.h), glimpses };
};

export interface RamLoss {
  /** Mean cross-entropy over the batch, nats: the scalar to minimise. */
  readonly loss: Tensor;
  /** −log softmax(logits)[label] per image [batch]. */
  readonly nll: Tensor;
  readonly logits: Tensor;
}

const lossOf = (logits: Tensor, y: Tensor): RamLoss => {
  const nll = sub(logsumexp(logits, 1), sum(mul(y, logits), 1));
  return { loss: mean(nll), nll, logits };
};

export interface RamModel {
  readonly config: RamConfig;
  readonly params: ParamSpecs;
  readonly paramShapes: Readonly<Record<string, Shape>>;
  init(seed: number): Record<string, Float32Array>;
  /** Input shapes of the loss graph: every parameter, `x` and `y`. */
  specs(batch: number): Record<string, Shape>;
  readonly objective: (p: Params, data: RamData) => RamLoss;
  readonly loss: (p: Params, data: RamData) => Tensor;
  /** The objective plus each glimpse's attention, `read.gx|gy|delta|sigma|gamma` [T, batch] (as DRAW's reconstruct names them). */
  readonly classify: (p: Params, data: RamData) => Record<string, Tensor>;
  /** Traced objective: outputs `loss`, `nll`, `logits`. */
  lossGraph(batch: number): E.Either<Error, Graph>;
  /** lossGraph plus `grad.<param>` for every parameter. */
  trainingGraph(batch: number): E.Either<Error, Graph>;
}

/** The attention classifier for `config`. */
export const ram = (config: RamConfig): RamModel => {
  const params = ramParamSpecs(config);
  const paramShapes = shapesOf(params);
  const objective = (p: Params, { x, y }: RamData) => lossOf(forward(config, p, x).logits, y);
  const specs = (batch: number) => ({ ...paramShapes, ...ramDataSpecs(config, batch) });
  const graphs = objectiveGraphs(Object.keys(params), specs, (xs) => objective(xs, { x: xs.x, y: xs.y }));
  return {
    config,
    params,
    paramShapes,
    init: (seed) => initialise(params, seed),
    specs,
    objective,
    loss: (p, data) => objective(p, data).loss,
    classify: (p, { x, y }) => {
      const f = forward(config, p, x);
      return { ...lossOf(f.logits, y), ...attentionOutputs('read', f.glimpses) };
    },
    ...graphs,
  };
};
