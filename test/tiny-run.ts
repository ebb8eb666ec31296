// The flags of the tests' tiny DRAW runs (a 2-glimpse model with 8-unit LSTMs, batches of 10): fast enough
// to train, checkpoint and resume in a test, shared so every test trains the same model.
export const TINY_MODEL = [
  '--preset',
  'small',
  '--T',
  '2',
  '--enc',
  '8',
  '--dec',
  '8',
  '--z',
  '3',
  '--write-n',
  '3',
  '--batch',
  '10',
];
/** Little validation, no checkpoints or evaluations during the run, one JSON line. */
export const QUIET = ['--val-images', '20', '--eval-every', '1000', '--ckpt-every', '1000', '--json'];
