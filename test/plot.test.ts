// `draw plot RUN_DIR`: the curves in metrics.jsonl as a PNG (checked pixel by pixel: each curve's colour
// is there, spans the steps, runs the way its numbers do and sits in its own panel) and as an HTML page
// that draws offline; a missing or bad metrics.jsonl is one line, exit 2.
import { describe, it, expect, beforeAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import * as E from 'fp-ts/lib/Either.js';
import { plot } from '../src/cli/plot.ts';
import { curveSummary, parseMetrics } from '../src/io/metrics.ts';
import { CURVE_COLOURS, SEGMENT_COLOUR, type CurveName } from '../src/io/curves.ts';
import { chromium, CHROMIUM, itNeeds } from './system.ts';

const dir = mkdtempSync(join(tmpdir(), 'draw-plot-'));
const run = join(dir, 'run <', 'script> & co'); // the title shows the path: "run </script> & co"

/** A run of 1,000 steps whose loss falls, gradient norm rises (1 → 100) and bound falls, in known straight lines. */
const syntheticMetrics = (): string => {
  const lines: string[] = [];
  for (let step = 10; step <= 1000; step += 10) {
    lines.push(
      JSON.stringify({
        step,
        loss: 500 - 0.4 * step,
        gradNorm: 10 ** ((2 * step) / 1000),
        imagesPerSecond: 300,
        wallSeconds: step * 0.4,
      }),
    );
    if (step % 100 === 0)
      lines.push(
        JSON.stringify({
          step,
          validation: { bound: 480 - 0.35 * step, recon: 430 - 0.3 * step, kl: 50 - 0.05 * step, images: 1000 },
          wallSeconds: step * 0.4 + 1,
        }),
      );
  }
  return `${lines.join('\n')}\n`;
};
const DRAW_CURVES = [
  'training loss',
  'validation bound',
  'reconstruction',
  'KL',
  'gradient norm',
] as const satisfies readonly CurveName[];

/** A classifier run (`draw classify`): its evaluations are the validation error, falling 80% → 8%, and cross-entropy. */
const classifierMetrics = (): string =>
  Array.from({ length: 100 }, (_, k) => {
    const step = 10 * (k + 1);
    const lines = [JSON.stringify({ step, loss: 2.3 - 0.002 * step, gradNorm: 1, wallSeconds: step * 0.3 })];
    if (step % 100 === 0)
      lines.push(
        JSON.stringify({ step, validation: { error: 0.8 - 0.00072 * step, loss: 2.2 - 0.0018 * step, images: 1000 } }),
      );
    return lines.join('\n');
  }).join('\n');

interface Pixels {
  readonly xs: number[];
  readonly ys: number[];
}
const mean = (a: readonly number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const median = (a: readonly number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

/** Where `hex` appears in the picture (within a small tolerance: resvg anti-aliases line edges). */
const pixelsOf = (png: PNG, hex: string): Pixels => {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < png.height; y++)
    for (let x = 0; x < png.width; x++) {
      const at = 4 * (y * png.width + x);
      if (want.every((c, k) => Math.abs(png.data[at + k] - c) <= 12)) {
        xs.push(x);
        ys.push(y);
      }
    }
  return { xs, ys };
};

/** Where `hex`, faded into the white background by anti-aliasing (any opacity from a fifth up), appears. */
const tintsOf = (png: PNG, hex: string): Pixels => {
  const depth = [1, 3, 5].map((i) => 255 - parseInt(hex.slice(i, i + 2), 16)); // how far each channel is below white
  const deepest = depth.indexOf(Math.max(...depth));
  const xs: number[] = [];
  const ys: number[] = [];
  for (let y = 0; y < png.height; y++)
    for (let x = 0; x < png.width; x++) {
      const at = 4 * (y * png.width + x);
      const d = [0, 1, 2].map((k) => 255 - png.data[at + k]);
      const opacity = d[deepest] / depth[deepest];
      if (opacity > 0.2 && d.every((dk, k) => Math.abs(dk - opacity * depth[k]) <= 12)) {
        xs.push(x);
        ys.push(y);
      }
    }
  return { xs, ys };
};

/** Mean screen row of the pixels in the left and right thirds of their span: a falling curve goes down the screen. */
const thirds = ({ xs, ys }: Pixels) => {
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)];
  const part = (from: number, to: number) => ys.filter((_, i) => xs[i] >= from && xs[i] <= to);
  return { left: mean(part(lo, lo + (hi - lo) / 3)), right: mean(part(hi - (hi - lo) / 3, hi)), span: hi - lo };
};

describe('draw plot', () => {
  let result: Record<string, unknown>;
  let png: PNG;
  const curve: Partial<Record<CurveName, Pixels>> = {};
  beforeAll(async () => {
    mkdirSync(run, { recursive: true });
    writeFileSync(join(run, 'metrics.jsonl'), syntheticMetrics());
    result = await plot({}, [run]);
    png = PNG.sync.read(readFileSync(result.curvesPng as string));
    for (const name of Object.keys(CURVE_COLOURS) as CurveName[]) curve[name] = pixelsOf(png, CURVE_COLOURS[name]);
  }, 60_000);

  it('draws every curve in its colour, across the steps, and no classifier curve', () => {
    expect(png.width).toBeGreaterThan(640);
    expect(curve['validation error']!.xs.length + curve['validation cross-entropy']!.xs.length).toBe(0);
    for (const name of DRAW_CURVES) {
      expect(curve[name]!.xs.length, name).toBeGreaterThan(150);
      expect(thirds(curve[name]!).span, name).toBeGreaterThan(500); // the panels are 640 pixels wide
    }
  });

  it('each curve runs the way its numbers do: loss, bound, reconstruction and KL fall, the gradient norm rises', () => {
    for (const name of ['training loss', 'validation bound', 'reconstruction', 'KL'] as const) {
      const t = thirds(curve[name]!);
      expect(t.right, `${name}: left third at row ${t.left}, right third at row ${t.right}`).toBeGreaterThan(
        t.left + (name === 'KL' ? 5 : 40),
      );
    }
    const g = thirds(curve['gradient norm']!);
    expect(g.right).toBeLessThan(g.left - 40);
  });

  it('puts the panels one above another: loss and bound, then their parts, then the gradient norm', () => {
    const row = (n: CurveName) => median(curve[n]!.ys);
    expect(row('training loss')).toBeLessThan(row('reconstruction'));
    expect(row('validation bound')).toBeLessThan(row('KL'));
    expect(Math.max(row('reconstruction'), row('KL'))).toBeLessThan(row('gradient norm'));
  });

  it('reports the curve in one line', () => {
    expect(result.curve).toBe(
      'training loss 496.0 → 100.0 (steps 10–1000, lowest 100.0), validation bound 445.0 → 130.0 (10 evaluations), gradient norm median 10.5',
    );
  });

  it('writes a page with uPlot and the data inlined: no reference outside the file, the run name escaped', () => {
    const html = readFileSync(result.curvesHtml as string, 'utf8');
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).toContain(readFileSync('node_modules/uplot/dist/uPlot.iife.min.js', 'utf8'));
    expect(html).toContain('<option value="wall">wall time</option>');
    expect(html.match(/<\/script>/g)).toHaveLength(2); // the run name's "</script>" was escaped
    expect(html).toContain('run &#60;/script&#62; &#38; co');
  });

  itNeeds(chromium)(
    'the page draws a chart for each panel in Chromium, offline',
    () => {
      const r = spawnSync(
        CHROMIUM,
        ['--headless', '--no-sandbox', '--disable-gpu', '--dump-dom', `file://${result.curvesHtml as string}`],
        { encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.match(/class="uplot/g)).toHaveLength(3);
      expect(r.stdout.match(/<canvas/g)).toHaveLength(3);
    },
    90_000,
  );
});

describe('draw plot on a classifier run', () => {
  it('draws the validation error falling in its own panel, and the cross-entropy beside the training loss', async () => {
    const runDir = join(dir, 'classifier');
    mkdirSync(runDir);
    writeFileSync(join(runDir, 'metrics.jsonl'), classifierMetrics());
    const r = await plot({}, [runDir]);
    expect(r.curve).toBe(
      'training loss 2.28 → 0.300 (steps 10–1000, lowest 0.300), validation error 72.8% → 8.0% (10 evaluations), gradient norm median 1.00',
    );
    const picture = PNG.sync.read(readFileSync(r.curvesPng as string));
    const [error, crossEntropy, loss] = (
      ['validation error', 'validation cross-entropy', 'training loss'] as const
    ).map((n) => pixelsOf(picture, CURVE_COLOURS[n]));
    expect(pixelsOf(picture, CURVE_COLOURS['validation bound']).xs.length).toBe(0);
    const t = thirds(error);
    expect(t.span).toBeGreaterThan(500);
    expect(t.right).toBeGreaterThan(t.left + 40);
    expect(thirds(crossEntropy).span).toBeGreaterThan(500);
    expect(median(loss.ys)).toBeLessThan(median(error.ys)); // the error panel is below the loss panel
  }, 60_000);
});

describe('draw plot errors: one line, exit 2', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8', timeout: 60_000 });
  const fails = (args: string[], message: string) => {
    const r = cli(...args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr.trim()).toBe(`error: ${message}`);
  };
  const folder = (name: string, metrics?: string) => {
    const p = join(dir, name);
    mkdirSync(p);
    if (metrics !== undefined) writeFileSync(join(p, 'metrics.jsonl'), metrics);
    return p;
  };
  it('no metrics.jsonl', () => {
    const p = folder('empty');
    fails(['plot', p], `metrics ${join(p, 'metrics.jsonl')} is missing`);
  }, 60_000);
  it('a line that is not JSON, a record without a step, no records at all, no run folder', async () => {
    const bad = folder('bad', '{"step":10,"loss":3}\n{"step":20,"loss":\n');
    await expect(plot({}, [bad])).rejects.toThrow(`metrics ${join(bad, 'metrics.jsonl')} line 2: not JSON (`);
    const noStep = folder('nostep', '{"loss":3}\n');
    await expect(plot({}, [noStep])).rejects.toThrow(
      `metrics ${join(noStep, 'metrics.jsonl')} line 1: not a record with a step number`,
    );
    const none = folder('none', '\n');
    await expect(plot({}, [none])).rejects.toThrow(
      `metrics ${join(none, 'metrics.jsonl')} holds no training or validation records`,
    );
    await expect(plot({}, [])).rejects.toThrow('plot needs the run folder: draw plot RUN_DIR');
    fails(['plot', bad], `metrics ${join(bad, 'metrics.jsonl')} line 2: not JSON (Unexpected end of JSON input)`);
  }, 60_000);
});

describe('draw plot on a run resumed across sessions and machines', () => {
  /** 1,000 steps in three segments (steps 0–400 on one machine, 400–700 on another, 700–1000 on the first). */
  const resumedMetrics = (): string => {
    const segment = (step: number, machine: string) =>
      JSON.stringify({
        step,
        segment: { startedAt: '2026-12-07T18:00:00.000Z', machine, threads: 1 },
        wallSeconds: step * 0.5,
      });
    const lines = syntheticMetrics().trim().split('\n');
    const at = (step: number) => lines.findIndex((l) => JSON.parse(l).step > step);
    lines.splice(at(700), 0, segment(700, 'CPU A'));
    lines.splice(at(400), 0, segment(400, 'CPU B'));
    return `${[segment(0, 'CPU A'), ...lines].join('\n')}\n`;
  };
  it('names each segment with its steps, training time and machine, and rules the picture where each resumed', async () => {
    const runDir = join(dir, 'resumed');
    mkdirSync(runDir);
    writeFileSync(join(runDir, 'metrics.jsonl'), resumedMetrics());
    const r = await plot({}, [runDir]);
    expect(r.segments).toBe(3);
    // wall seconds: 0.5·step at each segment's start, 0.4·step + 1 at the last record (step 1000)
    expect(r.curve).toMatch(
      /, 3 segments: steps 0–400 in 3\.3 min on CPU A \(1 thread\); steps 400–700 in 2\.5 min on CPU B \(1 thread\); steps 700–1000 in 51\.0 s on CPU A \(1 thread\)$/,
    );
    const picture = PNG.sync.read(readFileSync(r.curvesPng as string));
    const loss = pixelsOf(picture, CURVE_COLOURS['training loss']);
    const [x10, x1000] = [Math.min(...loss.xs), Math.max(...loss.xs)];
    const xOf = (step: number) => x10 + ((step - 10) / 990) * (x1000 - x10);
    // the 1.5-pixel rule is anti-aliased over two columns: find the pixels that are its colour faded into white
    const rule = tintsOf(picture, SEGMENT_COLOUR);
    const clusters = [...new Set(rule.xs)]
      .sort((a, b) => a - b)
      .reduce<number[][]>(
        (cs, x) => (cs.length && x - cs[cs.length - 1].at(-1)! <= 1 ? (cs[cs.length - 1].push(x), cs) : [...cs, [x]]),
        [],
      )
      .filter((c) => rule.xs.filter((x) => c.includes(x)).length > 300);
    const centres = clusters.map((c) => mean(rule.xs.filter((x) => c.includes(x))));
    expect(
      centres.map((x, i) => Math.abs(x - xOf([400, 700][i])) < 3),
      `rules at ${centres}, steps 400 and 700 at ${xOf(400)}, ${xOf(700)}`,
    ).toEqual([true, true]);
    const html = readFileSync(r.curvesHtml as string, 'utf8');
    expect(html).toContain(
      'const SEGMENTS = [{"step":400,"wallSeconds":200,"label":"resumed at step 400 on CPU B"},{"step":700,"wallSeconds":350,"label":"resumed at step 700 on CPU A"}];',
    );
  }, 60_000);

  it('a run begun by a build that logged no segments, resumed by one that does, has its first segment implicit', () => {
    const lines = [
      { step: 10, loss: 5, wallSeconds: 10 },
      { step: 20, loss: 4, wallSeconds: 20 },
      { step: 20, segment: { machine: 'CPU B', threads: 2 }, wallSeconds: 20 },
      { step: 30, loss: 3, wallSeconds: 32 },
    ];
    const m = parseMetrics(lines.map((l) => JSON.stringify(l)).join('\n'), 'm');
    if (E.isLeft(m)) throw m.left;
    expect(curveSummary(m.right)).toMatch(
      /, 2 segments: steps 0–20 in 20\.0 s; steps 20–30 in 12\.0 s on CPU B \(2 threads\)$/,
    );
  });
});
