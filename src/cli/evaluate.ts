// `draw eval`: the test-set variational bound in nats per image, reconstruction and KL separately.
import { compileOrThrow, loadRun, loadData } from './session.ts';
import { type Flags, int, backendOf, explicitConfig } from './options.ts';
import { bound } from '../models/draw/bound.ts';

export const evaluateCommand = (f: Flags): Record<string, unknown> => {
  const run = loadRun(f.checkpoint, explicitConfig(f));
  const batch = int(f, 'batch') ?? 100;
  const images = int(f, 'images');
  const data = loadData(run.model.config, run.meta.binarisation, f.data, f.labels);
  const program = compileOrThrow(run.model.lossGraph(batch), backendOf(f));
  const started = performance.now();
  const b = bound(program, run.state.params, run.model.config, data.test, batch, images ?? data.test.n);
  return {
    command: 'eval', checkpoint: f.checkpoint, step: run.state.step, testBound: b.bound, reconstruction: b.recon, kl: b.kl,
    images: b.images, seconds: +((performance.now() - started) / 1e3).toFixed(2),
  };
};
