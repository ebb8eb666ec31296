// `npm run draw -- <command>`: train, eval, sample, export, plot, classify. Errors that a user can fix print one line and
// exit 2; with --json every command prints one JSON object as its last line.
import { inspect } from 'node:util';
import { parseFlags, usage, UsageError } from './options.ts';
import { isInputError } from './errors.ts';
import { train } from './train.ts';
import { evaluateCommand } from './evaluate.ts';
import { sample } from './sample.ts';
import { exportCommand } from './export.ts';
import { plot } from './plot.ts';
import { classify } from './classify.ts';

type Parsed = ReturnType<typeof parseFlags>;
const commands: Record<
  string,
  (f: Parsed['flags'], operands: Parsed['operands']) => Record<string, unknown> | Promise<Record<string, unknown>>
> = {
  train,
  eval: evaluateCommand,
  sample,
  export: exportCommand,
  plot,
  classify,
};

const main = async (argv: readonly string[]): Promise<number> => {
  let json = argv.includes('--json');
  try {
    const { command, flags, operands } = parseFlags(argv);
    json = !!flags.json;
    if (flags.help || !command) {
      console.log(usage);
      return command || flags.help ? 0 : 2;
    }
    const run = commands[command];
    if (!run) throw new UsageError(`unknown command '${command}' (commands: ${Object.keys(commands).join(', ')})`);
    const result = await run(flags, operands);
    if (json) console.log(JSON.stringify(result));
    else
      console.log(
        Object.entries(result)
          .map(([k, v]) => `${k}: ${typeof v === 'number' ? +v.toFixed(4) : v}`)
          .join('\n'),
      );
    return 0;
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    const input = isInputError(err);
    if (json) console.log(JSON.stringify({ error: err.message }));
    console.error(`error: ${err.message}${input ? '' : `\n${inspect(err)}`}`);
    return input ? 2 : 1;
  }
};

process.exitCode = (await main(process.argv.slice(2))) || process.exitCode;
