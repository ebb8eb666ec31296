// `draw sample`: pictures of a trained model. A grid of digits generated from the prior, a strip of
// the canvas at every step (with each step's write glimpse), reconstructions of test digits with the
// read (green) and write (red) glimpse boxes of every step, and (--gif FILE) the grid drawing itself.
import { join } from 'node:path';
import type { Tensor } from '../dsl/tensor.ts';
import { trace } from '../compiler/trace.ts';
import type { BackendName } from '../compiler/compile.ts';
import { glimpseBox, type DrawModel } from '../models/draw/index.ts';
import { encodeImageGrid, encodeStrip, renderImageGrid, type Box, type Rgb } from '../io/png.ts';
import { encodeAnimation } from '../io/gif.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { gatherBatch, type Images } from '../data/images.ts';
import { fillNormal, seedRng } from '../dsl/rng.ts';
import { compileOrThrow, ensureOutDir, loadModelRun, loadData, modelSource } from './session.ts';
import { type Flags, int, positive, backendOf } from './options.ts';

const STRIP_IMAGES = 8;
const READ: Rgb = [40, 200, 60];
const WRITE: Rgb = [230, 40, 40];

const glimpse = (
  out: Record<string, Float32Array>,
  part: 'read' | 'write',
  N: number,
  t: number,
  n: number,
  batch: number,
  color: Rgb,
): Box | undefined => {
  const b = glimpseBox(out, part, N, t, n, batch);
  return b && { ...b, color };
};

const stepImages = (canvas: Float32Array, T: number, batch: number, take: number, pixels: number): Float32Array[] =>
  Array.from({ length: T }, (_, t) => canvas.slice(t * batch * pixels, (t * batch + take) * pixels));

/**
 * Writes samples.png (from the prior), steps.png (the canvas at each step with its write glimpse),
 * reconstructions.png (test images with both glimpses) and, given `gif`, that file: the samples' grid
 * animated over the T steps with each step's write glimpse. All are drawn before any is written, so a
 * failure leaves none of them half-done. `temperature` scales the prior's noise for the samples (not the
 * reconstructions, whose noise is the posterior's).
 */
export const writeSamples = (
  model: DrawModel,
  params: Readonly<Record<string, Float32Array>>,
  test: Images,
  out: string,
  {
    backend,
    count,
    seed,
    gif,
    temperature = 1,
  }: { backend: BackendName; count: number; seed: number; gif?: string; temperature?: number },
): Record<string, string> => {
  const c = model.config;
  const pixels = c.A * c.B * c.channels;
  const look = { rows: c.B, cols: c.A, channels: c.channels, scale: 3 };

  const gen = compileOrThrow(
    trace((xs: Readonly<Record<string, Tensor>>) => model.generate(xs, { eps: xs.eps }), model.generateSpecs(count)),
    backend,
  );
  const eps = new Float32Array(c.T * count * c.zSize);
  fillNormal(seedRng(seed), eps);
  if (temperature !== 1) eps.forEach((e, i) => (eps[i] = e * temperature));
  const g = gen.run({ ...params, eps });
  const grid = { ...look, count, gridCols: Math.ceil(Math.sqrt(count)) };
  const samples = encodeImageGrid(g.canvas.slice((c.T - 1) * count * pixels), grid);
  // the whole grid drawing itself: one frame per step, each sample with that step's write glimpse
  const animation =
    gif === undefined
      ? undefined
      : encodeAnimation(
          stepImages(g.canvas, c.T, count, count, pixels).map((canvas, t) =>
            renderImageGrid(canvas, {
              ...grid,
              boxes: Array.from({ length: count }, (_, n) => {
                const b = glimpse(g, 'write', c.writeN, t, n, count, WRITE);
                return b && [b];
              }),
            }),
          ),
        );
  // the drawing steps of the first samples, and the reconstructions of as many test images as there are
  const shown = Math.min(STRIP_IMAGES, count);
  const take = Math.min(shown, test.n);
  const steps = encodeStrip(stepImages(g.canvas, c.T, count, shown, pixels), {
    ...look,
    count: shown,
    boxes: Array.from({ length: c.T }, (_, t) =>
      Array.from({ length: shown }, (_, n) => {
        const b = glimpse(g, 'write', c.writeN, t, n, count, WRITE);
        return b && [b];
      }),
    ),
  });

  const rec = compileOrThrow(
    trace((xs: Readonly<Record<string, Tensor>>) => model.reconstruct(xs, { x: xs.x, eps: xs.eps }), model.specs(take)),
    backend,
  );
  const x = gatherBatch(
    test,
    Int32Array.from({ length: take }, (_, i) => i),
  );
  const reps = new Float32Array(c.T * take * c.zSize);
  fillNormal(seedRng(seed + 1), reps);
  const r = rec.run({ ...params, x, eps: reps });
  const reconstructions = encodeStrip([x, ...stepImages(r.canvas, c.T, take, take, pixels)], {
    ...look,
    count: take,
    boxes: [
      undefined,
      ...Array.from({ length: c.T }, (_, t) =>
        Array.from({ length: take }, (_, n) =>
          [glimpse(r, 'read', c.readN, t, n, take, READ), glimpse(r, 'write', c.writeN, t, n, take, WRITE)].filter(
            (b): b is Box => !!b,
          ),
        ),
      ),
    ],
  });
  const files = {
    samplesPng: join(out, 'samples.png'),
    stepsPng: join(out, 'steps.png'),
    reconstructionsPng: join(out, 'reconstructions.png'),
  };
  // the animation first: its path is the user's own, so the likeliest to fail, and then nothing is written
  if (animation !== undefined && gif !== undefined) writeFileAtomic(gif, animation, 'animation');
  writeFileAtomic(files.samplesPng, samples, 'image');
  writeFileAtomic(files.stepsPng, steps, 'image');
  writeFileAtomic(files.reconstructionsPng, reconstructions, 'image');
  return gif === undefined ? files : { ...files, gif };
};

export const sample = (f: Flags, operands: readonly string[] = []): Record<string, unknown> => {
  const run = loadModelRun(f, operands);
  const settings = {
    backend: backendOf(f),
    count: int(f, 'count') ?? 64,
    seed: int(f, 'seed', 0) ?? run.meta.seed,
    gif: f.gif,
    temperature: positive(f, 'temperature'),
  };
  const data = loadData(run.model.config, {
    binarisation: run.meta.binarisation,
    images: f.data,
    labels: f.labels,
    dataset: run.meta.dataset,
  });
  const pictures = writeSamples(run.model, run.state.params, data.test, ensureOutDir(f.out ?? 'runs/draw'), settings);
  return {
    command: 'sample',
    checkpoint: modelSource(f, operands),
    step: run.state.step,
    ...(settings.temperature === undefined ? {} : { temperature: settings.temperature }),
    ...pictures,
  };
};
