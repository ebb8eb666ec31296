// `draw eval`: the test-set variational bound in nats per image, reconstruction and KL separately, and
// with --samples K the importance-weighted estimate of the negative log-likelihood with its standard error;
// for a classifier's checkpoint (`draw classify`), the test error.
import { compileOrThrow, loadModelRun, loadData, modelSource } from './session.ts';
import { type Flags, int, backendOf } from './options.ts';
import { bound } from '../models/draw/bound.ts';
import { importanceGraph, importanceNll } from '../models/draw/importance.ts';
import { evaluateClassifier, loadClassifierRun } from './classify.ts';

const seconds = (since: number) => +((performance.now() - since) / 1e3).toFixed(2);

export const evaluateCommand = (f: Flags, operands: readonly string[] = []): Record<string, unknown> => {
  const classifier = f.checkpoint === undefined || f.pretrained ? undefined : loadClassifierRun(f.checkpoint);
  if (classifier) return evaluateClassifier(f, classifier);
  const run = loadModelRun(f, operands);
  const batch = int(f, 'batch') ?? 100;
  const images = int(f, 'images');
  const samples = int(f, 'samples');
  const backend = backendOf(f);
  const data = loadData(run.model.config, {
    binarisation: run.meta.binarisation,
    images: f.data,
    labels: f.labels,
    dataset: run.meta.dataset,
  });
  const n = images ?? data.test.n;
  const program = compileOrThrow(run.model.lossGraph(batch), backend);
  const started = performance.now();
  const b = bound(program, run.state.params, run.model.config, data.test, batch, n);
  const result = {
    command: 'eval',
    checkpoint: modelSource(f, operands),
    ...(run.meta.dataset ? { dataset: run.meta.dataset } : {}),
    step: run.state.step,
    testBound: b.bound,
    reconstruction: b.recon,
    kl: b.kl,
    images: b.images,
    seconds: seconds(started),
  };
  if (samples === undefined) return result;
  // --batch counts rows of one run: K samples of batch/K images
  const perRun = Math.max(1, Math.floor(batch / samples));
  const estimator = compileOrThrow(importanceGraph(run.model.config, perRun, samples), backend);
  const sampledAt = performance.now();
  const e = importanceNll(estimator, run.state.params, run.model.config, data.test, perRun, samples, n);
  return { ...result, samples, nll: e.nll, nllStandardError: e.standardError, nllSeconds: seconds(sampledAt) };
};
