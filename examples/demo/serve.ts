// `npm run demo [-- --model DIR --port N]`: serves the demo page on localhost with an exported
// generator under /model/: DIR, else runs/draw/export (written by `npm run draw -- export`) where a
// training run exported one, else the pretrained model that ships with draw-ts, exported on first use
// into runs/pretrained/paper/export (the paper's T=64 model).
// Only the page's two files and the export's own files are served, nothing else from the disk.
// No request can stop it: a malformed one is answered 400, a failure while answering 500.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { EXPORT_FILES, exportGenerator } from '../../src/export/export.ts';
import { loadPretrained, type PretrainedName } from '../../src/node/pretrained.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
};

const plain = (res: ServerResponse, status: number, text: string) =>
  res.writeHead(status, { 'content-type': 'text/plain' }).end(text);

/** The path a request asks for; undefined when its target is no URL (`//[`, say). */
const pathOf = (url = '/'): string | undefined => {
  try {
    return new URL(url, 'http://localhost').pathname;
  } catch {
    return undefined;
  }
};

export interface Demo {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the server (port 0: any free port); rejects when `model` holds no export. */
export const serveDemo = ({
  model,
  port = 8080,
  host = '127.0.0.1',
}: {
  model: string;
  port?: number;
  host?: string;
}): Promise<Demo> => {
  if (!existsSync(join(model, 'manifest.json')))
    return Promise.reject(
      new Error(
        `no exported generator in '${model}': run \`npm run draw -- export --checkpoint runs/draw/checkpoint.safetensors --out ${model}\` first`,
      ),
    );
  const routes = new Map<string, string>([
    ['/', join(here, 'index.html')],
    ['/demo.mjs', join(here, 'demo.mjs')],
    // the page encodes its drawing as an animated GIF with gifenc's ES module
    ['/gifenc.mjs', createRequire(import.meta.url).resolve('gifenc/dist/gifenc.esm.js')],
    ...EXPORT_FILES.map((f) => [`/model/${f}`, join(model, f)] as const),
  ]);
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    const file = path === undefined ? undefined : routes.get(path);
    if (path === undefined) plain(res, 400, 'bad request');
    else if (!file || !existsSync(file)) plain(res, 404, 'not found');
    else {
      const body = readFileSync(file); // before the head, so a failed read can still be answered 500
      res
        .writeHead(200, {
          'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
          'cache-control': 'no-store',
        })
        .end(body);
    }
  };
  const server: Server = createServer((req, res) => {
    try {
      answer(req, res);
    } catch (e) {
      console.error(`demo: ${req.method} ${req.url}: ${(e as Error).message}`);
      if (res.headersSent) res.destroy();
      else plain(res, 500, 'server error');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const p = typeof address === 'object' && address ? address.port : port;
      resolve({ url: `http://${host}:${p}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
};

const TRAINED_EXPORT = 'runs/draw/export';
const PRETRAINED_EXPORT = 'runs/pretrained/paper/export';

/** The pretrained model's export folder (the paper's T=64 model, or `name`), written on first use. */
export const pretrainedExport = async (dir = PRETRAINED_EXPORT, name: PretrainedName = 'paper'): Promise<string> => {
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const p = loadPretrained(name);
  if (E.isLeft(p)) throw p.left;
  const m = await exportGenerator(p.right.model, p.right.params, dir, {
    source: { pretrained: name, step: p.right.meta.step },
  });
  if (E.isLeft(m)) throw m.left;
  return dir;
};

/** The command line's model folder and port; a bad flag throws one line naming it. */
const demoFlags = (argv: readonly string[]): { model?: string; port: number } => {
  let values: { model?: string; port?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { model: { type: 'string' }, port: { type: 'string', default: '8080' } },
      strict: true,
    }));
  } catch (e) {
    throw new Error(
      `${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (flags: --model DIR, --port N)`,
    );
  }
  const port = Number(values.port);
  if (!(Number.isInteger(port) && port >= 0 && port < 65536))
    throw new Error(`--port must be an integer from 0 to 65535, got '${values.port}'`);
  return { model: values.model, port };
};

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const fail = (e: Error) => {
    console.error(`error: ${e.message}`);
    process.exitCode = 2;
  };
  try {
    const flags = demoFlags(process.argv.slice(2));
    const model =
      flags.model !== undefined
        ? Promise.resolve(flags.model)
        : existsSync(join(TRAINED_EXPORT, 'manifest.json'))
          ? Promise.resolve(TRAINED_EXPORT)
          : pretrainedExport();
    model
      .then((dir) =>
        serveDemo({ model: dir, port: flags.port }).then((d) =>
          console.log(`DRAW demo at ${d.url} (generator: ${dir}); Ctrl-C stops`),
        ),
      )
      .catch(fail);
  } catch (e) {
    fail(e as Error);
  }
}
