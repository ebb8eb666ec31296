// Training curves as a PNG: a Vega-Lite chart (vega-lite compiles it, vega renders it to SVG without a
// browser or canvas) rasterised by resvg (a Rust renderer shipped prebuilt in its npm package, so the
// install downloads nothing else). One panel above another (curves.ts), sharing the step axis; a dashed
// rule where a resumed run went on.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';
import { SEGMENT_COLOUR, type CurvePanel, type SegmentMark } from './curves.ts';

const WIDTH = 640;
const PANEL_HEIGHT = 180;

const panelSpec = (p: CurvePanel, segments: readonly SegmentMark[]) => {
  const names = p.curves.map((c) => c.name);
  const only = (sparse: boolean) => p.curves.filter((c) => c.sparse === sparse).map((c) => c.name);
  const x = { field: 'step', type: 'quantitative', title: 'step' };
  const encoding = {
    x,
    y: { field: 'value', type: 'quantitative', title: p.unit, scale: p.log ? { type: 'log' } : { zero: false } },
    color: {
      field: 'series',
      type: 'nominal',
      title: null,
      scale: { domain: names, range: p.curves.map((c) => c.colour) },
      legend: { orient: 'top', symbolType: 'stroke', symbolStrokeWidth: 3, labelLimit: 0 }, // 0: names are never cut short
    },
  };
  const lines = p.curves.flatMap((c) => c.points.map((pt) => ({ step: pt.step, series: c.name, value: pt.value })));
  return {
    title: p.title,
    width: WIDTH,
    height: PANEL_HEIGHT,
    layer: [
      {
        data: { values: lines },
        encoding,
        transform: [{ filter: { field: 'series', oneOf: only(false) } }],
        mark: { type: 'line', strokeWidth: 1.5 },
      },
      {
        data: { values: lines },
        encoding,
        transform: [{ filter: { field: 'series', oneOf: only(true) } }],
        mark: { type: 'line', strokeWidth: 2, point: { size: 30 } },
      },
      // a rule with x alone spans the panel's height
      ...(segments.length
        ? [
            {
              data: { values: segments.map((g) => ({ step: g.step })) },
              encoding: { x },
              mark: { type: 'rule', color: SEGMENT_COLOUR, strokeDash: [6, 4], strokeWidth: 1.5 },
            },
          ]
        : []),
    ],
  };
};

/** The Vega-Lite spec of the panels. */
export const curvesSpec = (
  panels: readonly CurvePanel[],
  title: string,
  segments: readonly SegmentMark[] = [],
): TopLevelSpec =>
  ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, anchor: 'start', offset: 16 },
    background: 'white',
    config: { font: 'DejaVu Sans, sans-serif', view: { stroke: '#ddd' } },
    vconcat: panels.map((p) => panelSpec(p, segments)),
    resolve: { scale: { color: 'independent', x: 'shared' } },
  }) as TopLevelSpec;

/** The panels as PNG bytes. */
export const renderCurvesPng = async (
  panels: readonly CurvePanel[],
  title: string,
  segments: readonly SegmentMark[] = [],
): Promise<Buffer> => {
  const view = new vega.View(vega.parse(compile(curvesSpec(panels, title, segments)).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } })
    .render()
    .asPng();
};
