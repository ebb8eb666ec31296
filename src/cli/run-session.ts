// What `draw train` and `draw classify` share around the library's training loop: the output folder
// (made only once the programs compile), metrics.jsonl, the progress bar, Ctrl-C (a checkpoint, then
// exit 130), a diverged run reported in one line with where its last good state is, and the summary.
import { appendFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import cliProgress from 'cli-progress';
import type { LoopOptions, LoopResult } from '../models/train-loop.ts';
import type { TrainState } from '../optim/index.ts';
import { readMetrics, lastWallSeconds, keepRecordsUpTo } from '../io/metrics.ts';
import { ensureOutDir, checkpointPath } from './session.ts';
import { UsageError } from './options.ts';

export interface SessionSettings<V> {
  readonly command: string;
  readonly out: string;
  /** Continuing the run in `out`: its metrics are appended to, not restarted. */
  readonly resumed: boolean;
  readonly json: boolean;
  readonly startStep: number;
  /** The validation figure the progress bar shows. */
  readonly shown: (v: V) => string;
  readonly save: (path: string, state: TrainState) => void;
  /** Once the folder of a new (not resumed) run is made: write what describes it (config.json). */
  readonly onNewRun?: () => void;
}

/** The processor as the OS names it, with the cores it has: what a segment of a long run ran on. */
const machineName = (): string => `${cpus()[0]?.model.trim() || 'unknown processor'}, ${availableParallelism()} cores`;

type Hooks<V> = Pick<LoopOptions<V>, 'signal' | 'onStart' | 'onStep' | 'onEval' | 'onCheckpoint'>;

/** Runs `start` with the session's callbacks; the run's result once it ended other than by diverging. */
export const runSession = async <V>(
  s: SessionSettings<V>,
  start: (hooks: Hooks<V>) => Promise<E.Either<Error, LoopResult<V>>>,
): Promise<LoopResult<V>> => {
  const ckpt = checkpointPath(s.out);
  const metricsPath = join(s.out, 'metrics.jsonl');
  // wall time of training (compiling excluded), continued from the run's last record when resuming
  let wallZero = 0;
  const wallSeconds = () => +((performance.now() - wallZero) / 1e3).toFixed(3);
  const log = (rec: Record<string, unknown>) =>
    appendFileSync(metricsPath, `${JSON.stringify({ ...rec, wallSeconds: wallSeconds() })}\n`);
  let endStep = Infinity;
  const bar = s.json
    ? undefined
    : new cliProgress.SingleBar(
        {
          format: `${s.command} |{bar}| {value}/{total} | loss {loss} | val {val} | {ips} img/s | ETA {eta_formatted}`,
          etaBuffer: 20,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      );
  let lastVal: string | undefined;
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await start({
      signal: abort.signal,
      // the folder is made once the programs compile, so no mistake found before then leaves one behind
      onStart: ({ toStep, fromStep, threads }) => {
        ensureOutDir(s.out);
        if (!s.resumed) {
          writeFileSync(metricsPath, '');
          s.onNewRun?.();
        } else keepRecordsUpTo(metricsPath, fromStep);
        endStep = toStep;
        const before = s.resumed
          ? E.getOrElseW(() => undefined)(E.map(lastWallSeconds)(readMetrics(metricsPath)))
          : undefined;
        wallZero = performance.now() - 1e3 * (before ?? 0);
        log({ step: fromStep, segment: { startedAt: new Date().toISOString(), machine: machineName(), threads } });
        bar?.start(Number.isFinite(endStep) ? endStep : s.startStep + 1, s.startStep, {
          loss: '-',
          val: '-',
          ips: '-',
        });
      },
      onStep: (r) => {
        if (r.step % 10 === 0 || r.step === endStep) log({ ...r });
        bar?.update(r.step, { loss: r.loss.toFixed(2), val: lastVal ?? '-', ips: r.imagesPerSecond.toFixed(0) });
      },
      onEval: (r) => {
        lastVal = s.shown(r.validation);
        log({ step: r.step, validation: r.validation, ...(r.final ? { final: true } : {}) });
      },
      onCheckpoint: (state) => s.save(ckpt, state),
    });
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
  }
  if (E.isLeft(result)) throw result.left;
  const r = result.right;
  if (r.stopped === 'diverged')
    throw new UsageError(
      `${r.error!.message}; training stopped, the last good state (step ${r.state.step}) is in ${ckpt}`,
    );
  if (r.stopped === 'aborted') process.exitCode = 130;
  return r;
};

/** The fields every training command reports. */
export const sessionSummary = <V>(s: SessionSettings<V>, r: LoopResult<V>, batch: number): Record<string, unknown> => {
  const done = r.state.step - s.startStep;
  return {
    command: s.command,
    steps: done,
    step: r.state.step,
    stopped: r.stopped === 'aborted' ? 'interrupted' : r.stopped,
    wallSeconds: +r.wallSeconds.toFixed(2),
    secondsPerStep: +(r.wallSeconds / Math.max(1, done)).toFixed(4),
    imagesPerSecond: +((done * batch) / r.wallSeconds).toFixed(1),
    compileSeconds: +r.compileSeconds.toFixed(2),
    finalTrainLoss: r.history[r.history.length - 1]?.loss ?? NaN,
  };
};
