// `draw plot RUN_DIR`: a run's metrics.jsonl as curves.png and curves.html in that folder (or --out).
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { readMetrics, curveSummary, lastWallSeconds, duration, segmentSpans } from '../io/metrics.ts';
import { curvePanels, segmentMarks } from '../io/curves.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { ensureOutDir } from './session.ts';
import { type Flags, UsageError } from './options.ts';

// vega, vega-lite, @resvg/resvg-js and uplot are optional peer dependencies: loaded here, on use.
const PLOT_PACKAGES = 'vega@6.4.0 vega-lite@6.4.1 @resvg/resvg-js@2.6.2 uplot@1.6.32';
const renderers = async () => {
  try {
    const [png, html] = await Promise.all([import('../io/curves-png.ts'), import('../io/curves-html.ts')]);
    html.uplotAvailable();
    return { renderCurvesPng: png.renderCurvesPng, curvesHtml: html.curvesHtml };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')
      throw new UsageError(
        `plot draws with optional packages that are not installed (${err.message.split('\n')[0]}): npm install ${PLOT_PACKAGES}`,
      );
    throw e;
  }
};

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
  const { renderCurvesPng, curvesHtml } = await renderers();
  const segments = segmentMarks(m);
  const png = await renderCurvesPng(panels, title, segments);
  const html = curvesHtml(panels, title, summary, wall !== undefined, segments);
  const out = ensureOutDir(f.out ?? runDir);
  const files = { curvesPng: join(out, 'curves.png'), curvesHtml: join(out, 'curves.html') };
  writeFileAtomic(files.curvesPng, png, 'image');
  writeFileAtomic(files.curvesHtml, Buffer.from(html), 'page');
  return {
    command: 'plot',
    metrics: metricsPath,
    curve: summary,
    segments: Math.max(1, segmentSpans(m).length),
    ...files,
  };
};
