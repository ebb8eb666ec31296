// Training curves as a PNG: a Vega-Lite chart (vega-lite compiles it, vega renders it to SVG without a
// browser or canvas) rasterised by resvg (a Rust renderer shipped prebuilt in its npm package, so the
// install downloads nothing else). One panel above another (curves.ts), sharing the step axis.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import type { CurvePanel } from './curves.ts';

const WIDTH = 640;
const PANEL_HEIGHT = 180;

const panelSpec = (p: CurvePanel) => {
  const names = p.curves.map((c) => c.name);
  const only = (sparse: boolean) => p.curves.filter((c) => c.sparse === sparse).map((c) => c.name);
  return {
    title: p.title, width: WIDTH, height: PANEL_HEIGHT,
    data: { values: p.curves.flatMap((c) => c.points.map((pt) => ({ step: pt.step, series: c.name, value: pt.value }))) },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: p.unit, scale: p.log ? { type: 'log' } : { zero: false } },
      color: {
        field: 'series', type: 'nominal', title: null,
        scale: { domain: names, range: p.curves.map((c) => c.colour) },
        legend: { orient: 'top', symbolType: 'stroke', symbolStrokeWidth: 3, labelLimit: 0 }, // 0: names are never cut short
      },
    },
    layer: [
      { transform: [{ filter: { field: 'series', oneOf: only(false) } }], mark: { type: 'line', strokeWidth: 1.5 } },
      { transform: [{ filter: { field: 'series', oneOf: only(true) } }], mark: { type: 'line', strokeWidth: 2, point: { size: 30 } } },
    ],
  };
};

/** The Vega-Lite spec of the panels. */
export const curvesSpec = (panels: readonly CurvePanel[], title: string): TopLevelSpec => ({
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  title: { text: title, anchor: 'start', offset: 16 },
  background: 'white',
  config: { font: 'DejaVu Sans, sans-serif', view: { stroke: '#ddd' } },
  vconcat: panels.map(panelSpec),
  resolve: { scale: { color: 'independent', x: 'shared' } },
}) as TopLevelSpec;

/** The panels as PNG bytes. */
export const renderCurvesPng = async (panels: readonly CurvePanel[], title: string): Promise<Buffer> => {
  const view = new vega.View(vega.parse(compile(curvesSpec(panels, title)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
};
