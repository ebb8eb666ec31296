// Optimisers and the training step: the public surface of src/optim.
export { type Optimizer, type Update, type Shapes, type Tensors, slotName } from './optimizer.ts';
export { adam, type AdamHyper } from './adam.ts';
export { sgd, type SgdHyper } from './sgd.ts';
export { globalNorm, clipByGlobalNorm, clipScale } from './clip.ts';
export { powConst } from './numerics.ts';
export {
  trainStep,
  stepSpecs,
  optSpecs,
  paramOut,
  optName,
  isOptName,
  STEP,
  LOSS,
  GRAD_NORM,
  PARAM_CHECK,
  type LossFn,
  type TrainStepOptions,
} from './train-step.ts';
export {
  checkFinite,
  NonFiniteError,
  initTrainState,
  stepFeeds,
  advance,
  checkpointTensors,
  restoreTrainState,
  type TrainState,
  type Outputs,
} from './host.ts';
export { hostStepper, residentStepper, type Stepper } from './stepper.ts';
