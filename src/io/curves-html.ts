// Training curves as one self-contained HTML page: uPlot (a small chart library; its script and style
// are inlined, so the page works offline and from a copied folder) draws the same panels as the PNG,
// with a cursor that reads values off, and an x axis of step or, where the run recorded it, wall time.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { SEGMENT_COLOUR, type CurvePanel, type SegmentMark } from './curves.ts';

const require = createRequire(import.meta.url);
const uplotFile = (name: string): string => readFileSync(require.resolve(`uplot/dist/${name}`), 'utf8');

/** Throws MODULE_NOT_FOUND where uplot (an optional peer dependency) is not installed. */
export const uplotAvailable = (): void => void require.resolve('uplot/package.json');

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// JSON inside a <script>: "<" escaped so no string in it can close the element
const scriptJson = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c');

// Runs in the page: aligns each panel's curves on one x axis (uPlot's data layout) and draws them.
const PAGE_SCRIPT = `
const charts = [];
const draw = (axis) => {
  charts.splice(0).forEach((c) => c.destroy());
  const root = document.getElementById('charts');
  const width = Math.min(900, document.body.clientWidth - 20);
  for (const panel of PANELS) {
    const key = (p) => (axis === 'wall' ? p.wallSeconds : p.step);
    const xs = [...new Set(panel.curves.flatMap((c) => c.points.map(key)).filter((x) => x !== undefined))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    const ys = panel.curves.map((c) => {
      const y = new Array(xs.length).fill(null);
      c.points.forEach((p) => key(p) !== undefined && (y[at.get(key(p))] = p.value));
      return y;
    });
    charts.push(new uPlot({
      title: panel.title, width, height: 260,
      scales: { x: { time: false }, y: panel.log ? { distr: 3 } : {} },
      axes: [{ label: axis === 'wall' ? 'wall time (s)' : 'step' }, { label: panel.unit }],
      series: [{ label: axis === 'wall' ? 'seconds' : 'step' }, ...panel.curves.map((c) => ({
        label: c.name, stroke: c.colour, width: c.sparse ? 2 : 1.5, spanGaps: true, points: { show: c.sparse },
      }))],
      hooks: { draw: [(u) => {
        // a dashed rule where a resumed run went on
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = SEGMENT_COLOUR;
        ctx.setLineDash([6, 4]);
        for (const g of SEGMENTS) {
          if (key(g) === undefined) continue;
          const px = u.valToPos(key(g), 'x', true);
          ctx.beginPath();
          ctx.moveTo(px, u.bbox.top);
          ctx.lineTo(px, u.bbox.top + u.bbox.height);
          ctx.stroke();
        }
        ctx.restore();
      }] },
    }, [xs, ...ys], root));
  }
};
const select = document.getElementById('axis');
if (select) select.addEventListener('change', () => draw(select.value));
draw('step');
`;

/** The page: `title` and `summary` as text, the panels as uPlot charts, the segments' starts as rules. */
export const curvesHtml = (
  panels: readonly CurvePanel[],
  title: string,
  summary: string,
  hasWallTime: boolean,
  segments: readonly SegmentMark[] = [],
): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>${uplotFile('uPlot.min.css')}</style>
<style>body { font-family: sans-serif; margin: 10px; } h1 { font-size: 1.2em; } #charts > div { margin-bottom: 16px; }</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>${escapeHtml(summary)}</p>
${hasWallTime ? '<p><label>x axis <select id="axis"><option value="step">step</option><option value="wall">wall time</option></select></label></p>' : ''}
<div id="charts"></div>
<script>${uplotFile('uPlot.iife.min.js')}</script>
<script>
const PANELS = ${scriptJson(panels)};
const SEGMENTS = ${scriptJson(segments)};
const SEGMENT_COLOUR = ${scriptJson(SEGMENT_COLOUR)};
${PAGE_SCRIPT}</script>
</body>
</html>
`;
