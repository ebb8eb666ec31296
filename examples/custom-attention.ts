// A custom attention variant: DRAW whose read uses heavy-tailed Cauchy filters instead of the
// paper's Gaussians, and whose write paints with Laplace filters. Only the filter shape changes; the
// model, its gradients and training are untouched. Prints the gradient check of the whole model.
import * as E from 'fp-ts/lib/Either.js';
import { abs, add, div, log, neg, square, sqrt } from '../src/index.ts';
import { attentiveRead, attentiveWrite, draw, type FilterShape } from '../src/models/draw/index.ts';
import { drawProperties } from '../src/testing/index.ts';

/** −log(1 + d²/σ²): a Cauchy filter of scale σ, normalised over each row by the filterbank. */
const cauchy: FilterShape = (d, sigma2) => neg(log(add(1, div(square(d), sigma2))));
/** −|d|/σ: a Laplace filter. */
const laplace: FilterShape = (d, sigma2) => neg(div(abs(d), sqrt(sigma2)));

const config = {
  A: 6,
  B: 6,
  channels: 1,
  T: 2,
  encSize: 8,
  decSize: 8,
  zSize: 3,
  readN: 2,
  writeN: 3,
  readAttention: true,
  writeAttention: true,
};
const parts = { read: attentiveRead({ shape: cauchy }), write: attentiveWrite({ shape: laplace }) };

const model = draw(config, parts);
console.log(
  `parameters: ${Object.entries(model.paramShapes)
    .map(([n, s]) => `${n}[${s}]`)
    .join(' ')}`,
);

// every row of a Cauchy filterbank still sums to one, wherever the grid is
const bank = {
  N: 3,
  A: 6,
  B: 6,
  gx: Float64Array.of(3.5, -40),
  gy: Float64Array.of(1, 1e4),
  sigma2: Float64Array.of(1, 1e-9),
  delta: Float64Array.of(1.5, 4),
};
console.log(
  'Cauchy rows sum to 1:',
  drawProperties.rowsSumToOne(bank, cauchy),
  ' read/write adjoint:',
  drawProperties.readWriteAdjoint(bank, cauchy),
);

const check = E.tryCatch(
  () => drawProperties.modelGradientAgrees(config, parts),
  (e) => e as Error,
);
if (E.isLeft(check)) {
  console.log(`gradient check FAILED: ${check.left.message}`);
  process.exitCode = 1;
} else {
  const r = check.right;
  console.log(
    `gradient check (all ${Object.keys(model.params).length} parameters, float64): analytic ${r.analytic.toFixed(9)}, numeric ${r.numeric.toFixed(9)}, relative error ${r.error.toExponential(2)} (ok)`,
  );
}
