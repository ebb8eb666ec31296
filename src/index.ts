// The one public entry of the library.
export * from './dsl/ops.ts';
export * from './dsl/composites.ts';
export type { Tensor } from './dsl/tensor.ts';
export { type Shape, ShapeError, fmt as formatShape } from './dsl/shape.ts';
export { primitives, primitiveNames, type PrimName, type Primitive } from './dsl/primitives.ts';
export * from './dsl/rng.ts';
export { trace, TraceError, type Specs, type Inputs } from './compiler/trace.ts';
export { grad, gradName, GradError } from './compiler/grad.ts';
export { evaluate, EvaluateError, type Feeds } from './compiler/evaluate.ts';
export { verify, inline, GraphError, type Graph } from './compiler/graph.ts';
export { simplify, eliminateDeadCode } from './compiler/passes.ts';
export {
  compile,
  backendNames,
  CompileError,
  type BackendName,
  type CompileOptions,
  type Program,
  type ProgramStats,
  type ResidentRun,
} from './compiler/compile.ts';
export { unwrap } from './util.ts';
export { useGpuJs, type GpuJsModule } from './compiler/backends/gpujs/load.ts';
export * from './optim/index.ts';
export { stepRunner, shardSizes, type StepRunner, type StepOptions } from './optim/data-parallel.ts';
export { webWorkerPort, type WorkerPort, type SpawnWorker } from './parallel/port.ts';
export { remoteProgram, type RemoteProgram } from './parallel/remote-program.ts';
export { toPlainGraph, fromPlainGraph, type PlainGraph } from './compiler/graph.ts';
export {
  type Binarisation,
  type Dataset,
  type Images,
  type LoadOptions,
  type Pixels,
  DEFAULT_BINARISATION_SEED,
  convertPixels,
  binariseBatch,
  sliceDataset,
  shuffledBatches,
  gatherBatch,
  gatherLabels,
  pixelAt,
  pixelValues,
} from './data/images.ts';
export { type ImageSource, renderImages, valuesPerImage } from './data/source.ts';
export {
  type Digits,
  type SyntheticKind,
  type Split,
  type CanvasBinarisation,
  type SyntheticOptions,
  CLUTTERED,
  TWO_DIGIT,
  DEFAULT_SYNTHETIC_SEED,
  cluttered,
  twoDigit,
  colourDigits,
} from './data/synthetic.ts';
export * from './models/draw/index.ts';
export * from './models/ram/index.ts';
export { trainLoop, type Trainable, type LoopData, type LoopOptions, type LoopResult } from './models/train-loop.ts';
