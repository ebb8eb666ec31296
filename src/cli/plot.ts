// `draw plot RUN_DIR`: a run's metrics.jsonl as curves.png and curves.html in that folder (or --out).
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { readMetrics, curveSummary, lastWallSeconds } from '../io/metrics.ts';
import { curvePanels } from '../io/curves.ts';
import { renderCurvesPng } from '../io/curves-png.ts';
import { curvesHtml } from '../io/curves-html.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { ensureOutDir } from './session.ts';
import { type Flags, UsageError } from './options.ts';

const duration = (s: number): string => (s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`);

export const plot = async (f: Flags, operands: readonly string[]): Promise<Record<string, unknown>> => {
  const runDir = operands[0];
  if (runDir === undefined) throw new UsageError('plot needs the run folder: draw plot RUN_DIR');
  const metricsPath = join(runDir, 'metrics.jsonl');
  const metrics = readMetrics(metricsPath);
  if (E.isLeft(metrics)) throw new UsageError(metrics.left.message);
  const m = metrics.right;
  const wall = lastWallSeconds(m);
  const last = Math.max(...m.steps.map((s) => s.step), ...m.evals.map((e) => e.step));
  const title = `${runDir}: ${last} steps${wall === undefined ? '' : ` in ${duration(wall)}`}`;
  const summary = curveSummary(m);
  const panels = curvePanels(m);
  const png = await renderCurvesPng(panels, title);
  const html = curvesHtml(panels, title, summary, wall !== undefined);
  const out = ensureOutDir(f.out ?? runDir);
  const files = { curvesPng: join(out, 'curves.png'), curvesHtml: join(out, 'curves.html') };
  writeFileAtomic(files.curvesPng, png, 'image');
  writeFileAtomic(files.curvesHtml, Buffer.from(html), 'page');
  return { command: 'plot', metrics: metricsPath, curve: summary, ...files };
};
