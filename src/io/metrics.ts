// Reading a run's metrics.jsonl (one JSON object a line, as `draw train` and `draw classify` append
// them): training steps ({ step, loss, gradNorm?, wallSeconds? }), validation evaluations ({ step,
// validation, wallSeconds? }: DRAW's { bound, recon, kl }, the classifier's { error, loss }) and the
// start of each segment ({ step, segment: { startedAt, machine, threads }, wallSeconds }: a run resumed
// in another session, on another machine, goes on in the same file). Fields it
// does not know are ignored, so older and newer runs both read; a line that is not a JSON object with a
// step is an error naming the file and the line.
import { existsSync, readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from './atomic.ts';

export interface StepPoint {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm?: number;
  /** Seconds of training since the run began (runs of older builds do not record it). */
  readonly wallSeconds?: number;
}

export interface EvalPoint {
  readonly step: number;
  /** DRAW: the validation bound and its two parts, nats per image. */
  readonly bound?: number;
  readonly recon?: number;
  readonly kl?: number;
  /** The classifier: the fraction of validation images misclassified, and their mean cross-entropy. */
  readonly error?: number;
  readonly crossEntropy?: number;
  readonly wallSeconds?: number;
}

/** Where the run started or was resumed: one each time `draw train` or `draw classify` set off. */
export interface SegmentPoint {
  readonly step: number;
  /** The run's training seconds when the segment began (the previous segment's last). */
  readonly wallSeconds?: number;
  /** ISO date and time of the start. */
  readonly startedAt?: string;
  /** The processor it ran on, as the OS names it. */
  readonly machine?: string;
  readonly threads?: number;
}

export interface Metrics {
  readonly steps: readonly StepPoint[];
  readonly evals: readonly EvalPoint[];
  /** In order; empty for runs of builds that did not record them (then the run is one segment). */
  readonly segments: readonly SegmentPoint[];
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses metrics.jsonl text; `path` only labels errors. */
export const parseMetrics = (text: string, path: string): E.Either<Error, Metrics> => {
  const steps: StepPoint[] = [];
  const evals: EvalPoint[] = [];
  const segments: SegmentPoint[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const where = `metrics ${path} line ${i + 1}`;
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch (e) {
      return E.left(new Error(`${where}: not JSON (${(e as Error).message.replace(/\s+/g, ' ')})`));
    }
    if (!isObject(r) || !(Number.isSafeInteger(r.step) && (r.step as number) >= 0))
      return E.left(new Error(`${where}: not a record with a step number`));
    const step = r.step as number;
    const wallSeconds = num(r.wallSeconds);
    if (num(r.loss) !== undefined) steps.push({ step, loss: r.loss as number, gradNorm: num(r.gradNorm), wallSeconds });
    const v = r.validation;
    if (isObject(v) && (num(v.bound) !== undefined || num(v.error) !== undefined))
      evals.push({
        step,
        bound: num(v.bound),
        recon: num(v.recon),
        kl: num(v.kl),
        error: num(v.error),
        crossEntropy: num(v.loss),
        wallSeconds,
      });
    const g = r.segment;
    if (isObject(g)) {
      const text = (x: unknown) => (typeof x === 'string' ? x : undefined);
      segments.push({
        step,
        wallSeconds,
        startedAt: text(g.startedAt),
        machine: text(g.machine),
        threads: num(g.threads),
      });
    }
  }
  if (steps.length + evals.length === 0)
    return E.left(new Error(`metrics ${path} holds no training or validation records`));
  return E.right({ steps, evals, segments });
};

export const readMetrics = (path: string): E.Either<Error, Metrics> => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left(
      new Error(
        code === 'ENOENT'
          ? `metrics ${path} is missing`
          : `metrics ${path} cannot be read (${code ?? (e as Error).message})`,
      ),
    );
  }
  return parseMetrics(text, path);
};

/**
 * Keeps the records up to `step` (those of a resumed run's checkpoint): what a run logged after its last
 * checkpoint, before it was stopped or its machine lost, is not part of the run that goes on from there.
 */
export const keepRecordsUpTo = (path: string, step: number): void => {
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
  const after = (line: string): boolean => {
    try {
      const r: unknown = JSON.parse(line);
      return isObject(r) && typeof r.step === 'number' && r.step > step;
    } catch {
      return false; // not ours to judge here: readMetrics names the line
    }
  };
  const kept = lines.filter((line) => !after(line));
  if (kept.length < lines.length) writeFileAtomic(path, Buffer.from(kept.map((l) => `${l}\n`).join('')), 'metrics');
};

/** A segment with the steps and training seconds it covered. */
export interface SegmentSpan extends SegmentPoint {
  readonly toStep: number;
  readonly seconds?: number;
}

/** The run's segments with where each ended: at the next one's start, the last at the run's last record. */
export const segmentSpans = (m: Metrics): SegmentSpan[] => {
  const lastStep = Math.max(
    ...m.steps.map((s) => s.step),
    ...m.evals.map((e) => e.step),
    ...m.segments.map((g) => g.step),
  );
  const lastWall = lastWallSeconds(m);
  // a run started by a build that did not record segments, then resumed by one that does: its first segment is implicit
  const segments: readonly SegmentPoint[] =
    m.segments.length && m.segments[0].step > 0 ? [{ step: 0, wallSeconds: 0 }, ...m.segments] : m.segments;
  return segments.map((g, i) => {
    const next = segments[i + 1];
    const end = next ? next.wallSeconds : lastWall;
    return {
      ...g,
      toStep: next?.step ?? lastStep,
      ...(end === undefined || g.wallSeconds === undefined ? {} : { seconds: end - g.wallSeconds }),
    };
  });
};

/** Wall-clock seconds at the last record, where the run recorded them. */
export const lastWallSeconds = (m: Metrics): number | undefined =>
  [...m.steps, ...m.evals].reduce<number | undefined>(
    (t, p) => (p.wallSeconds === undefined ? t : Math.max(t ?? 0, p.wallSeconds)),
    undefined,
  );

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3));

const percent = (v: number) => `${(100 * v).toFixed(1)}%`;

/** "name a → b (n evaluations)", or "name b at step s" for one evaluation; nothing where no evaluation has the number. */
const evalTrend = (
  evals: readonly EvalPoint[],
  name: string,
  value: (e: EvalPoint) => number | undefined,
  show: (v: number) => string,
): string[] => {
  const pts = evals.flatMap((e) => {
    const v = value(e);
    return v === undefined ? [] : [{ step: e.step, v }];
  });
  if (!pts.length) return [];
  const [a, b] = [pts[0], pts[pts.length - 1]];
  return [
    pts.length > 1
      ? `${name} ${show(a.v)} → ${show(b.v)} (${pts.length} evaluations)`
      : `${name} ${show(b.v)} at step ${b.step}`,
  ];
};

export const duration = (s: number): string =>
  s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`;

/** "steps 0–6100 in 2.31 h on AMD EPYC (1 thread)": one segment's part of the curve line. */
const segmentText = (g: SegmentSpan): string => {
  const where =
    g.machine === undefined
      ? ''
      : ` on ${g.machine}${g.threads === undefined ? '' : ` (${g.threads} thread${g.threads === 1 ? '' : 's'})`}`;
  return `steps ${g.step}–${g.toStep}${g.seconds === undefined ? '' : ` in ${duration(g.seconds)}`}${where}`;
};

/**
 * One line about the curve: the training loss and the validation bound (or error) from first to last, the
 * gradient norm's median, and where a run went on over several segments, each segment.
 */
export const curveSummary = ({ steps, evals, segments }: Metrics): string => {
  const parts: string[] = [];
  if (steps.length) {
    const [a, b] = [steps[0], steps[steps.length - 1]];
    const best = Math.min(...steps.map((s) => s.loss));
    parts.push(`training loss ${fmt(a.loss)} → ${fmt(b.loss)} (steps ${a.step}–${b.step}, lowest ${fmt(best)})`);
  }
  parts.push(
    ...evalTrend(evals, 'validation bound', (e) => e.bound, fmt),
    ...evalTrend(evals, 'validation error', (e) => e.error, percent),
  );
  const norms = steps
    .map((s) => s.gradNorm)
    .filter((g): g is number => g !== undefined)
    .sort((x, y) => x - y);
  if (norms.length) parts.push(`gradient norm median ${fmt(norms[Math.floor(norms.length / 2)])}`);
  const spans = segmentSpans({ steps, evals, segments });
  if (spans.length > 1) parts.push(`${spans.length} segments: ${spans.map(segmentText).join('; ')}`);
  return parts.join(', ');
};

/** The run's curve in one line (curveSummary), or why its metrics cannot be read. */
export const runCurve = (path: string): string => E.match((e: Error) => e.message, curveSummary)(readMetrics(path));
