// Errors that describe the user's input (flags, files, shapes, configs) are one line and exit 2. Anything
// else is a bug, ours or in the traced code, and keeps its stack (and its cause's) for the report.
const INPUT_ERRORS = new Set([
  'UsageError',
  'ShapeError',
  'DrawConfigError',
  'CompileError',
  'TrainError',
  'RamConfigError',
  'IdxError',
  'WriteError',
  'ExportError',
]);
export const isInputError = (e: unknown): boolean =>
  e instanceof Error &&
  (INPUT_ERRORS.has(e.name) || (e.name === 'TraceError' && (e.cause === undefined || isInputError(e.cause))));
