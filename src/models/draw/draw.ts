// `draw(config, parts)`: the model as one record of pure functions and specs, and the traced
// graphs a training loop or a report needs. Everything here is assembled from model.ts.
import type * as E from 'fp-ts/lib/Either.js';
import type { Shape } from '../../dsl/shape.ts';
import type { Tensor } from '../../dsl/tensor.ts';
import { objectiveGraphs } from '../graphs.ts';
import type { Graph } from '../../compiler/graph.ts';
import type { DrawConfig } from './config.ts';
import { initialise, shapesOf, type ParamSpecs, type Params } from './params.ts';
import {
  dataSpecs,
  generate,
  objective,
  paramSpecs,
  priorSpecs,
  reconstruct,
  type DrawData,
  type DrawLoss,
  type Parts,
} from './model.ts';

export interface DrawModel {
  readonly config: DrawConfig;
  /** Every parameter's shape and initialisation, by name. */
  readonly params: ParamSpecs;
  readonly paramShapes: Readonly<Record<string, Shape>>;
  /** Seeded initial parameter values. */
  init(seed: number): Record<string, Float32Array>;
  /** Input shapes of the loss graph: every parameter, `x` and `eps`. */
  specs(batch: number): Record<string, Shape>;
  /** Input shapes of the generation graph: every parameter and `eps`. */
  generateSpecs(batch: number): Record<string, Shape>;
  readonly objective: (p: Params, data: DrawData) => DrawLoss;
  /** The scalar loss alone: a LossFn for optim's trainStep (with `dataSpecs(config, batch)`). */
  readonly loss: (p: Params, data: DrawData) => Tensor;
  readonly reconstruct: (p: Params, data: DrawData) => Record<string, Tensor>;
  readonly generate: (p: Params, data: { readonly eps: Tensor }) => Record<string, Tensor>;
  /** Traced objective: outputs `loss`, `recon`, `kl`. */
  lossGraph(batch: number): E.Either<Error, Graph>;
  /** lossGraph plus `grad.<param>` for every parameter. */
  trainingGraph(batch: number): E.Either<Error, Graph>;
}

/** The DRAW model for `config`, with read and/or write replaced by `parts` where given. */
export const draw = (config: DrawConfig, parts: Parts = {}): DrawModel => {
  const params = paramSpecs(config, parts);
  const paramShapes = shapesOf(params);
  const obj = objective(config, parts);
  const specs = (batch: number) => ({ ...paramShapes, ...dataSpecs(config, batch) });
  const graphs = objectiveGraphs(Object.keys(params), specs, (xs) => obj(xs, { x: xs.x, eps: xs.eps }));
  return {
    config,
    params,
    paramShapes,
    init: (seed) => initialise(params, seed),
    specs,
    generateSpecs: (batch) => ({ ...paramShapes, ...priorSpecs(config, batch) }),
    objective: obj,
    loss: (p, data) => obj(p, data).loss,
    reconstruct: reconstruct(config, parts),
    generate: generate(config, parts),
    ...graphs,
  };
};
