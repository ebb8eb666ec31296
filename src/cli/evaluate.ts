// `draw eval`: the test-set variational bound in nats per image, reconstruction and KL separately; for
// a classifier's checkpoint (`draw classify`), the test error.
import { compileOrThrow, loadRun, loadData } from './session.ts';
import { type Flags, int, backendOf, explicitConfig } from './options.ts';
import { bound } from '../models/draw/bound.ts';
import { evaluateClassifier, loadClassifierRun } from './classify.ts';

export const evaluateCommand = (f: Flags): Record<string, unknown> => {
  const classifier = f.checkpoint === undefined ? undefined : loadClassifierRun(f.checkpoint);
  if (classifier) return evaluateClassifier(f, classifier);
  const run = loadRun(f.checkpoint, explicitConfig(f));
  const batch = int(f, 'batch') ?? 100;
  const images = int(f, 'images');
  const data = loadData(run.model.config, run.meta.binarisation, f.data, f.labels, run.meta.dataset);
  const program = compileOrThrow(run.model.lossGraph(batch), backendOf(f));
  const started = performance.now();
  const b = bound(program, run.state.params, run.model.config, data.test, batch, images ?? data.test.n);
  return {
    command: 'eval', checkpoint: f.checkpoint, ...(run.meta.dataset ? { dataset: run.meta.dataset } : {}), step: run.state.step, testBound: b.bound, reconstruction: b.recon, kl: b.kl,
    images: b.images, seconds: +((performance.now() - started) / 1e3).toFixed(2),
  };
};
