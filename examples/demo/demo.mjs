// The demo page: loads the exported generator from /model/, and on "draw" generates one batch of
// digits from the seed (its noise scaled by the temperature) and plays its T canvases (grey or RGB),
// with each step's write glimpse on an overlay. Each drawing can be downloaded as an animated GIF of
// what the page showed (gifenc, as `draw sample --gif` makes it). State for scripts and tests:
// body[data-state] is 'loading', 'ready', 'drawing', 'done' or 'error'; window.drawResult holds the
// last drawing's seed, temperature, kernel, final images and layout.
import { loadGenerator } from '/model/runtime.mjs';
import { GIFEncoder, quantize, applyPalette } from '/gifenc.mjs';

const SCALE = 4;
const GAP = 4;
const STEP_MS = 150;
const $ = (id) => document.getElementById(id);
const setState = (s) => (document.body.dataset.state = s);

const read = async (name) => {
  const r = await fetch(`/model/${name}`);
  if (!r.ok) throw new Error(`cannot load /model/${name}: HTTP ${r.status}`);
  return r.arrayBuffer();
};

const layout = (m) => {
  const cols = Math.ceil(Math.sqrt(m.batch));
  const rows = Math.ceil(m.batch / cols);
  const cell = m.config.A * SCALE + GAP;
  for (const c of [$('digits'), $('boxes')]) {
    c.width = cols * cell + GAP;
    c.height = rows * cell + GAP;
  }
  return { side: m.config.A * SCALE, origin: (n) => [GAP + (n % cols) * cell, GAP + Math.floor(n / cols) * cell] };
};

const paint = (gen, drawing, t, grid) => {
  const { A, B, channels } = gen.manifest.config;
  const plane = A * B; // a colour image is three planes, R then G then B
  const digits = $('digits').getContext('2d');
  const boxes = $('boxes').getContext('2d');
  boxes.clearRect(0, 0, boxes.canvas.width, boxes.canvas.height);
  boxes.strokeStyle = 'rgb(230, 40, 40)';
  boxes.lineWidth = 2;
  const byte = (v) => Math.round(255 * Math.min(1, Math.max(0, v)));
  for (let n = 0; n < drawing.count; n++) {
    const frame = drawing.frame(t, n);
    const img = digits.createImageData(A * SCALE, B * SCALE);
    for (let y = 0; y < B * SCALE; y++) {
      for (let x = 0; x < A * SCALE; x++) {
        const p = Math.floor(y / SCALE) * A + Math.floor(x / SCALE);
        const [r, g, b] =
          channels === 3 ? [frame[p], frame[plane + p], frame[2 * plane + p]] : [frame[p], frame[p], frame[p]];
        img.data.set([byte(r), byte(g), byte(b), 255], 4 * (y * A * SCALE + x));
      }
    }
    const [ox, oy] = grid.origin(n);
    digits.putImageData(img, ox, oy);
    const b = drawing.box(t, n);
    if (!b) continue;
    // a glimpse may reach past the image: keep its box inside this digit's cell
    boxes.save();
    boxes.beginPath();
    boxes.rect(ox, oy, grid.side, grid.side);
    boxes.clip();
    boxes.strokeRect(ox + b.x0 * SCALE, oy + b.y0 * SCALE, (b.x1 - b.x0) * SCALE, (b.y1 - b.y0) * SCALE);
    boxes.restore();
  }
};

/** The digits and their glimpse boxes, as the page shows them now: one RGBA frame. */
const snapshot = () => {
  const [digits, boxes] = [$('digits'), $('boxes')];
  const frame = document.createElement('canvas');
  [frame.width, frame.height] = [digits.width, digits.height];
  const ctx = frame.getContext('2d');
  ctx.drawImage(digits, 0, 0);
  ctx.drawImage(boxes, 0, 0);
  return ctx.getImageData(0, 0, frame.width, frame.height);
};

/** The frames as an animated GIF (one palette for all, looping, the last frame held), as a download link. */
const offerGif = (frames) => {
  const all = new Uint8Array(frames.length * frames[0].data.length);
  frames.forEach((f, i) => all.set(f.data, i * f.data.length));
  const palette = quantize(all, 256);
  const gif = GIFEncoder();
  frames.forEach((f, i) =>
    gif.writeFrame(applyPalette(f.data, palette), f.width, f.height, {
      palette: i === 0 ? palette : undefined,
      repeat: 0,
      delay: i === frames.length - 1 ? 1500 : STEP_MS,
    }),
  );
  gif.finish();
  const link = $('gif');
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([gif.bytes()], { type: 'image/gif' }));
  link.hidden = false;
};

const main = async () => {
  setState('loading');
  const gen = await loadGenerator(read, new GPU({ mode: 'gpu' }));
  const { T } = gen.manifest.config;
  $('steps').textContent = T;
  const grid = layout(gen.manifest);
  $('draw').disabled = false;
  setState('ready');
  $('controls').addEventListener('submit', async (e) => {
    e.preventDefault();
    const seed = Number($('seed').value) | 0;
    const temperature = Number($('temperature').value);
    $('draw').disabled = true;
    setState('drawing');
    let drawing;
    try {
      drawing = gen.generate({ count: gen.manifest.batch, seed, temperature });
    } catch (err) {
      // the runtime refuses a temperature that is not positive, naming it: the page says so and stays ready
      $('error').textContent = `error: ${err.message}`;
      $('draw').disabled = false;
      setState('ready');
      return;
    }
    $('error').textContent = '';
    $('mode').textContent = `${gen.kernel()} (${gen.webgl() ? 'WebGL' : 'CPU fallback, no WebGL'})`;
    const frames = [];
    for (let t = 0; t < T; t++) {
      paint(gen, drawing, t, grid);
      frames.push(snapshot());
      $('step').textContent = t + 1;
      await new Promise((r) => setTimeout(r, STEP_MS));
    }
    offerGif(frames);
    window.drawResult = {
      seed,
      temperature,
      channels: gen.manifest.config.channels,
      kernel: gen.kernel(),
      webgl: gen.webgl(),
      images: Array.from(drawing.images),
      // where each digit sits on the canvas, so a test can read back what the page shows
      scale: SCALE,
      origins: Array.from({ length: drawing.count }, (_, n) => grid.origin(n)),
    };
    $('draw').disabled = false;
    setState('done');
  });
};

main().catch((e) => {
  $('error').textContent = `error: ${e.message}`;
  setState('error');
});
