// `draw train`: flags, data and files around the library's `train` (src/models/draw/train.ts):
// metrics.jsonl, checkpoints, the progress bar, Ctrl-C (run-session.ts), and the pictures at the end.
import { join } from 'node:path';
import { draw, type Bound } from '../models/draw/index.ts';
import { train as trainModel } from '../models/draw/train.ts';
import { type Flags, configFrom, explicitConfig, int, positive, backendOf, binarisationOf, datasetOf, UsageError } from './options.ts';
import { checkpointPath, refuseToReplaceRun, loadRun, saveRun, loadData, optimizerFor, type RunMeta } from './session.ts';
import { runSession, sessionSummary } from './run-session.ts';
import { writeSamples } from './sample.ts';

export const train = async (f: Flags): Promise<Record<string, unknown>> => {
  // Every flag, the data and (in trainModel, before onStart) the compiled programs are checked before
  // the disk is touched, so a mistake costs nothing: no folder made, no run replaced.
  const out = f.out ?? 'runs/draw';
  const backend = backendOf(f);
  if (f.resume && f.overwrite) throw new UsageError('--resume continues the run in --out and --overwrite replaces it: pass one of them');
  const resumed = f.resume ? loadRun(f.checkpoint ?? checkpointPath(out), explicitConfig(f)) : undefined;
  if (resumed && (f.batch ?? f.lr ?? f.seed ?? f.clip) !== undefined) throw new UsageError('--resume continues the run as it was: drop --batch, --lr, --seed and --clip');
  if (resumed && f.dataset !== undefined && f.dataset !== (resumed.meta.dataset ?? 'mnist')) throw new UsageError(`--resume continues the run on its own data set (${resumed.meta.dataset ?? 'mnist'}): drop --dataset ${f.dataset}`);
  const dataset = resumed?.meta.dataset ?? datasetOf(f);
  const meta0: RunMeta = resumed?.meta ?? {
    format: 'draw-ts/1', config: configFrom(f), step: 0, seed: int(f, 'seed', 0) ?? 1, batch: int(f, 'batch') ?? 100,
    lr: positive(f, 'lr') ?? 3e-3, clip: positive(f, 'clip') ?? 10, binarisation: binarisationOf(f, dataset),
    ...(dataset === 'mnist' ? {} : { dataset }),
  };
  const { config, batch, seed } = meta0;
  const loop = {
    steps: int(f, 'steps'), epochs: int(f, 'epochs'), minutes: positive(f, 'minutes'), evalEvery: int(f, 'eval-every') ?? 500,
    valImages: int(f, 'val-images') ?? 1000, checkpointEvery: int(f, 'ckpt-every') ?? 500,
  };
  const model = resumed?.model ?? draw(config);
  const data = loadData(config, meta0.binarisation, f.data, f.labels, dataset);
  // trainModel refuses this too; here the message can name the flag and the file
  if (data.train.n < batch)
    throw new UsageError(`${f.data ? `--data ${f.data}` : 'MNIST'} has ${data.train.n} training images, fewer than one batch of ${batch} (--batch)`);
  if (!resumed && !f.overwrite) refuseToReplaceRun(out);

  const session = {
    command: 'train', out, resumed: !!resumed, json: !!f.json, startStep: resumed?.state.step ?? 0,
    shown: (v: Bound) => v.bound.toFixed(2),
    save: (path: string, s: Parameters<typeof saveRun>[3]) => saveRun(path, { ...meta0, step: s.step }, model, s),
  };
  const r = await runSession(session, (hooks) => trainModel(model, { train: data.train, validation: data.validation }, {
    ...loop, batch, optimizer: optimizerFor(meta0.lr), clip: meta0.clip, seed, resample: meta0.binarisation === 'resample', backend,
    state: resumed?.state, ...hooks,
  }));
  const pictures = r.stopped === 'aborted' ? {} : writeSamples(model, r.state.params, data.test, out, { backend, count: 64, seed });
  const final = r.evals[r.evals.length - 1]?.validation;
  return {
    ...sessionSummary(session, r, batch), ...(dataset === 'mnist' ? {} : { dataset }),
    validationBound: final?.bound, validationImages: final?.images,
    checkpoint: checkpointPath(out), metrics: join(out, 'metrics.jsonl'), ...pictures, backend, mode: r.mode, kernels: r.kernels,
  };
};
