// The training state as a loop steps it. On the host (the cpu backends, data-parallel steps) every
// step's outputs come back and become the next state, each value checked; on a device that keeps
// the state (gpujs: `Program.resident`), a step reads back only its loss, gradient norm and the
// parameter check, and the state comes back when asked (a checkpoint, an evaluation, the end).
import type { Feeds } from '../compiler/evaluate.ts';
import type { ResidentRun } from '../compiler/compile.ts';
import { GRAD_NORM, LOSS, PARAM_CHECK, STEP, isOptName, paramOut } from './train-step.ts';
import { advance, checkFinite, NonFiniteError, type Outputs, type TrainState } from './host.ts';

export interface Stepper {
  /** Steps completed. */
  readonly step: number;
  /** Runs the next step on `data`; throws NonFiniteError and keeps the last good state if it diverged. */
  next(data: Readonly<Record<string, Float32Array>>): Promise<{ loss: number; gradNorm: number }>;
  /** The state after the last good step, on the host (from a device: a read-back each call). */
  state(): TrainState;
  /** Frees what the state holds on a device. */
  dispose(): void;
}

/** Steps on the host: `run` gives every output; the state before the last lends its arrays, so a step allocates nothing. */
export const hostStepper = (
  run: (s: TrainState, data: Readonly<Record<string, Float32Array>>) => Promise<Outputs>,
  initial: TrainState,
): Stepper => {
  let state = initial;
  let spare: TrainState | undefined;
  return {
    get step() {
      return state.step;
    },
    next: async (data) => {
      const outputs = await run(state, data);
      const next = advance(state, outputs, spare); // throws before the last good state is replaced
      spare = state;
      state = next;
      return { loss: outputs[LOSS][0], gradNorm: outputs[GRAD_NORM][0] };
    },
    state: () => state,
    dispose: () => undefined,
  };
};

/**
 * Steps on a device that keeps parameters and optimiser state (`run` from `Program.resident`, of
 * a step graph traced with `paramCheck`). A step is kept only when its loss, gradient norm and
 * parameter check are finite.
 */
export const residentStepper = (
  resident: (carry: Readonly<Record<string, string>>, initial: Feeds) => ResidentRun,
  initial: TrainState,
): Stepper => {
  const names = [...Object.keys(initial.params), ...Object.keys(initial.opt)];
  const carry = Object.fromEntries(names.map((n) => [n, isOptName(n) ? n : paramOut(n)]));
  const run = resident(carry, { ...initial.params, ...initial.opt });
  let step = initial.step;
  let host: TrainState | undefined = initial;
  return {
    get step() {
      return step;
    },
    next: async (data) => {
      const out = run.run({ ...data, [STEP]: [step + 1] }, [LOSS, GRAD_NORM, PARAM_CHECK]);
      checkFinite(step + 1, out);
      const check = out[PARAM_CHECK][0];
      if (!Number.isFinite(check))
        throw new NonFiniteError(step + 1, out[LOSS][0], out[GRAD_NORM][0], {
          name: 'the parameters (Σ|θ|)',
          index: 0,
          value: check,
        });
      run.accept();
      step++;
      host = undefined;
      return { loss: out[LOSS][0], gradNorm: out[GRAD_NORM][0] };
    },
    state: () => {
      if (host) return host;
      const values = run.state();
      const pick = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, values[k]]));
      host = { step, params: pick(Object.keys(initial.params)), opt: pick(Object.keys(initial.opt)) };
      return host;
    },
    dispose: run.dispose,
  };
};
