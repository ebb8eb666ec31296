// The attention classifier of the DRAW paper's §4.1 ("differentiable RAM"), built from DRAW's read:
// the public surface of src/models/ram.
export { type RamConfig, RamConfigError, checkRamConfig, ramPresets } from './config.ts';
export { type RamModel, type RamData, type RamLoss, ram, ramParamSpecs, ramDataSpecs } from './model.ts';
export {
  type Classification,
  type ClassifierData,
  type ClassifierOptions,
  type ClassifierResult,
  type ClassifierEval,
  classificationError,
  ramTrainable,
  trainClassifier,
} from './train.ts';
