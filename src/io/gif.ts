// Animated GIFs of RGBA pictures (png.ts's renderImageGrid), encoded by gifenc: one palette of at most
// 256 colours for the whole animation (quantised from every frame, so a colour means the same in each),
// looping forever, the last frame held longer so the finished picture can be seen.
import * as gifencModule from 'gifenc';
import type { Picture } from './png.ts';

// gifenc has an ES module (named exports: bundlers, vite) and a CommonJS build (Node's import sees its
// exports object as the default): take whichever this runtime loaded.
const gifenc: typeof gifencModule =
  'quantize' in gifencModule ? gifencModule : (gifencModule as unknown as { default: typeof gifencModule }).default;

export interface AnimationOptions {
  /** Milliseconds each frame is shown (default 150). */
  readonly frameMs?: number;
  /** Milliseconds the last frame is shown (default 1500). */
  readonly lastFrameMs?: number;
}

/** The frames as GIF bytes; every frame must be the size of the first. */
export const encodeAnimation = (frames: readonly Picture[], opts: AnimationOptions = {}): Uint8Array => {
  if (frames.length === 0) throw new Error('animation: no frames');
  const { width, height } = frames[0];
  const odd = frames.findIndex((f) => f.width !== width || f.height !== height);
  if (odd >= 0)
    throw new Error(
      `animation: frame ${odd} is ${frames[odd].width}×${frames[odd].height}, frame 0 is ${width}×${height}`,
    );
  const all = new Uint8Array(frames.length * width * height * 4);
  frames.forEach((f, i) => all.set(f.data, i * f.data.length));
  const palette = gifenc.quantize(all, 256);
  const gif = gifenc.GIFEncoder();
  frames.forEach((f, i) => {
    const last = i === frames.length - 1;
    gif.writeFrame(gifenc.applyPalette(f.data, palette), width, height, {
      palette: i === 0 ? palette : undefined,
      repeat: 0,
      delay: last ? (opts.lastFrameMs ?? 1500) : (opts.frameMs ?? 150),
    });
  });
  gif.finish();
  return gif.bytes();
};
