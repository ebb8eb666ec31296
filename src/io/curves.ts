// What the training-curve pictures show, whatever draws them (curves-png.ts, curves-html.ts): panels of
// series against step, each series with a fixed colour. A panel whose numbers metrics.jsonl does not
// record is left out, so a DRAW run shows its bound and a classifier run its error.
import { segmentSpans, type Metrics } from './metrics.ts';

/** Where a resumed run went on (a later session, perhaps another machine): a dashed pink rule across every panel. */
export interface SegmentMark {
  readonly step: number;
  readonly wallSeconds?: number;
  readonly label: string;
}
export const SEGMENT_COLOUR = '#e377c2'; // Tableau 10's pink: no curve's colour, nor the axes' grey

/** The marks of a run's segments after the first (the first starts the run and needs none). */
export const segmentMarks = (m: Metrics): SegmentMark[] =>
  segmentSpans(m)
    .slice(1)
    .map((g) => ({
      step: g.step,
      wallSeconds: g.wallSeconds,
      label: `resumed at step ${g.step}${g.machine === undefined ? '' : ` on ${g.machine}`}`,
    }));

/** Each series' colour (Tableau 10), fixed so that a picture reads the same from run to run. */
export const CURVE_COLOURS = {
  'training loss': '#1f77b4',
  'validation bound': '#d62728',
  reconstruction: '#2ca02c',
  KL: '#9467bd',
  'gradient norm': '#ff7f0e',
  'validation cross-entropy': '#8c564b',
  'validation error': '#17becf',
} as const;
export type CurveName = keyof typeof CURVE_COLOURS;

export interface CurvePoint {
  readonly step: number;
  readonly wallSeconds?: number;
  readonly value: number;
}

export interface Curve {
  readonly name: CurveName;
  readonly colour: string;
  /** Evaluated now and then (drawn with points), rather than logged every few steps. */
  readonly sparse: boolean;
  readonly points: readonly CurvePoint[];
}

export interface CurvePanel {
  readonly title: string;
  readonly unit: string;
  readonly log: boolean;
  readonly curves: readonly Curve[];
}

const curve = <P extends { step: number; wallSeconds?: number }>(
  name: CurveName,
  sparse: boolean,
  pts: readonly P[],
  value: (p: P) => number | undefined,
): Curve => ({
  name,
  colour: CURVE_COLOURS[name],
  sparse,
  points: pts.flatMap((p) => {
    const v = value(p);
    return v === undefined ? [] : [{ step: p.step, wallSeconds: p.wallSeconds, value: v }];
  }),
});

const validationName = (m: Metrics): string =>
  m.evals.some((e) => e.bound !== undefined)
    ? ' and validation bound'
    : m.evals.some((e) => e.crossEntropy !== undefined)
      ? ' and validation cross-entropy'
      : '';

export const curvePanels = (m: Metrics): CurvePanel[] =>
  [
    {
      title: `training loss${validationName(m)}`,
      unit: 'nats per image',
      log: false,
      curves: [
        curve('training loss', false, m.steps, (p) => p.loss),
        curve('validation bound', true, m.evals, (p) => p.bound),
        curve('validation cross-entropy', true, m.evals, (p) => p.crossEntropy),
      ],
    },
    {
      title: 'validation error',
      unit: '% of images',
      log: false,
      curves: [curve('validation error', true, m.evals, (p) => (p.error === undefined ? undefined : 100 * p.error))],
    },
    {
      title: 'validation bound: reconstruction and KL',
      unit: 'nats per image',
      log: false,
      curves: [curve('reconstruction', true, m.evals, (p) => p.recon), curve('KL', true, m.evals, (p) => p.kl)],
    },
    // a log scale: norms span orders of magnitude early in a run (zero norms cannot be shown on it)
    {
      title: 'gradient norm',
      unit: 'log scale',
      log: true,
      curves: [
        curve('gradient norm', false, m.steps, (p) =>
          p.gradNorm !== undefined && p.gradNorm > 0 ? p.gradNorm : undefined,
        ),
      ],
    },
  ]
    .map((p) => ({ ...p, curves: p.curves.filter((c) => c.points.length > 0) }))
    .filter((p) => p.curves.length > 0);
