// DRAW (Gregor et al. 2015, "DRAW: A Recurrent Neural Network For Image Generation") as pure
// combinators over the DSL: the public surface of src/models/draw.
export { type DrawConfig, DrawConfigError, checkConfig, imageSize, presets } from './config.ts';
export {
  type Init,
  type ParamSpec,
  type ParamSpecs,
  type Params,
  weight,
  bias,
  dense,
  affine,
  stepGain,
  shapesOf,
  prefixed,
  scope,
  param,
  initialise,
} from './params.ts';
export { type LstmState, lstmParams, zeroState, rnnStep } from './lstm.ts';
export { type Sample, latentParams, klStdNormal, sample } from './latent.ts';
export {
  type FilterShape,
  type Attention,
  type Filterbank,
  gaussian,
  attentionParams,
  attend,
  filterbank,
  filterRead,
  filterWrite,
} from './filterbank.ts';
export {
  type Glimpse,
  type Reader,
  type Writer,
  type ReadPart,
  type WritePart,
  type AttentionOptions,
  plainRead,
  attentiveRead,
  plainWrite,
  attentiveWrite,
  defaultParts,
} from './read-write.ts';
export {
  type Parts,
  type DrawData,
  type DrawLoss,
  paramSpecs,
  initParams,
  dataSpecs,
  dataBatchAxes,
  priorSpecs,
  objective,
  reconstruct,
  generate,
  logImportanceWeight,
} from './model.ts';
export { type DrawModel, draw } from './draw.ts';
export { type GlimpseBox, glimpseBox } from './glimpse.ts';
export { type Bound, bound, EVAL_NOISE_SEED } from './bound.ts';
export {
  type TrainData,
  type TrainOptions,
  type TrainResult,
  type StartRecord,
  type StepRecord,
  type EvalRecord,
  type StopReason,
  TrainError,
  train,
} from './train.ts';
export {
  type ImportanceEstimate,
  importanceSpecs,
  importanceSampled,
  importanceGraph,
  importanceNll,
} from './importance.ts';
