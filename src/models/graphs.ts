// The traced graphs every model here offers: its objective as a graph over parameters and data (one
// record of every input: parts find their parameters by prefix and the data by name, so the record
// serves as both), and that graph with the loss's gradient for every parameter.
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { Shape } from '../dsl/shape.ts';
import type { Tensor } from '../dsl/tensor.ts';
import { trace } from '../compiler/trace.ts';
import { grad } from '../compiler/grad.ts';
import type { Graph } from '../compiler/graph.ts';

type Inputs = Readonly<Record<string, Tensor>>;

/** `lossGraph(batch)`: `objective`'s outputs (one of them `loss`); `trainingGraph(batch)`: those plus `grad.<param>`. */
export const objectiveGraphs = (
  paramNames: readonly string[],
  specs: (batch: number) => Record<string, Shape>,
  objective: (xs: Inputs) => { readonly loss: Tensor },
) => {
  const lossGraph = (batch: number): E.Either<Error, Graph> =>
    trace((xs: Inputs) => ({ ...objective(xs) }), specs(batch));
  const trainingGraph = (batch: number): E.Either<Error, Graph> =>
    pipe(
      lossGraph(batch),
      E.chainW((g) => grad(g, 'loss', paramNames)),
    );
  return { lossGraph, trainingGraph };
};
