// draw-ts/node: what needs Node's file system, kept out of the main entry so that it bundles for a
// browser: checkpoints (safetensors), IDX/MNIST files (and the synthetic data sets built from them), PNG and GIF pictures, and exporting a generator as a folder. The
// sources live in src/io, src/data and src/export; this folder is the subpath's entry. (The in-memory
// data set helpers, batching and binarisation, are in the main entry.)
export {
  type Checkpoint,
  type CheckpointError,
  type CheckpointErrorKind,
  type Tensor as CheckpointTensor,
  CheckpointEncodeError,
  CHECKPOINT_FILE,
  encodeCheckpoint,
  decodeCheckpoint,
  saveCheckpoint,
  loadCheckpoint,
} from '../io/checkpoint.ts';
export { encodeAnimation, type AnimationOptions } from '../io/gif.ts';
export { WriteError, writeFileAtomic } from '../io/atomic.ts';
export {
  type Rgb,
  type Box,
  type GridOptions,
  type StripOptions,
  encodeImageGrid,
  writeImageGrid,
  encodeStrip,
  writeStrip,
} from '../io/png.ts';
export { IdxError, type IdxArray, type IdxKind, parseIdx, readIdx } from '../data/idx.ts';
export {
  type MnistSplits,
  MNIST_VALIDATION_SIZE,
  mnistDataDir,
  mnistFiles,
  loadIdxDataset,
  loadMnist,
} from '../data/mnist.ts';
export { type SyntheticSplits, type SyntheticLoadOptions, loadSynthetic } from '../data/synthetic-mnist.ts';
export { type ExportOptions, ExportError, exportGenerator, EXPORT_FILES } from '../export/export.ts';
export {
  type Pretrained,
  type PretrainedMeta,
  type PretrainedName,
  PRETRAINED,
  loadPretrained,
  loadModelFile,
} from './pretrained.ts';
