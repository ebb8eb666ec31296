// Drives the demo page in Debian's Chromium (playwright-core, headless): WebGL comes from
// SwiftShader, and host rules plus the background-service switches keep the browser off the network.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';
import { serveDemo } from '../examples/demo/serve.ts';
import { CHROMIUM } from './system.ts';

const ARGS = [
  '--no-sandbox', '--disable-dev-shm-usage',
  // WebGL without a GPU: ANGLE on SwiftShader
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist',
  // no traffic but to the demo server
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1', '--no-proxy-server',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps',
  '--disable-domain-reliability', '--disable-client-side-phishing-detection', '--no-first-run', '--no-pings',
  '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication',
];

export interface PageResult {
  readonly error: string;
  readonly mode: string;
  readonly step: string;
  readonly images: number[];
  /** Every image pixel as the page's canvas shows it (0–255, red channel), in the images' order. */
  readonly canvasPixels: number[];
}

/** Serves `model`, draws `seed` on the page, and reads back what it shows. */
export const demoInBrowser = async (model: string, { seed, screenshot }: { seed: number; screenshot: string }): Promise<PageResult> => {
  const demo = await serveDemo({ model, port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(demo.url);
    await page.waitForSelector('body[data-state=ready], body[data-state=error]', { timeout: 60_000 });
    await page.fill('#seed', String(seed));
    await page.click('#draw');
    await page.waitForSelector('body[data-state=done], body[data-state=error]', { timeout: 60_000 });
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot });
    const shown = await page.evaluate(() => {
      const r = (window as unknown as { drawResult?: { images: number[]; scale: number; origins: [number, number][] } }).drawResult;
      if (!r) return { images: [], canvasPixels: [] };
      const canvas = document.getElementById('digits') as HTMLCanvasElement;
      const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const side = Math.round(Math.sqrt(r.images.length / r.origins.length));
      const canvasPixels = r.origins.flatMap(([ox, oy]) => Array.from({ length: side * side }, (_, i) =>
        px.data[4 * ((oy + Math.floor(i / side) * r.scale) * canvas.width + ox + (i % side) * r.scale)]));
      return { images: r.images, canvasPixels };
    });
    return {
      error: [await page.textContent('#error'), ...errors].filter(Boolean).join('\n'),
      mode: (await page.textContent('#mode')) ?? '',
      step: (await page.textContent('#step')) ?? '',
      ...shown,
    };
  } finally {
    await browser.close();
    await demo.close();
  }
};
