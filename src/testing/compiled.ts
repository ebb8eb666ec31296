// Does a backend compute what the graph means? Runs `graph` on the float64 reference evaluator and
// compiled (with every buffer poisoned, so an element no kernel wrote shows as NaN), and reports the
// worst disagreement, each output's error scaled by that output's largest reference value.
import * as E from 'fp-ts/lib/Either.js';
import { evaluate, type Feeds } from '../compiler/evaluate.ts';
import { compile, type BackendName } from '../compiler/compile.ts';
import type { Graph } from '../compiler/graph.ts';

export interface Disagreement {
  /** max over outputs o and elements i of |compiled − reference| / max(|reference of o|, 1e-3); NaN where a value is. */
  readonly error: number;
  /** Where it is worst, e.g. `grad.w[3]`. */
  readonly at: string;
}

/** The compiled graph's worst scaled disagreement with the reference evaluator on `feeds`. */
export const compiledVsReference = (graph: Graph, feeds: Feeds, backend: BackendName): E.Either<Error, Disagreement> =>
  E.flatMap(evaluate(graph, feeds), (ref) =>
    E.map((program: { run(f: Feeds): Record<string, Float32Array> }) => {
      const out = program.run(feeds);
      let worst: Disagreement = { error: 0, at: '' };
      for (const [name, r] of Object.entries(ref)) {
        const scale = r.reduce((a, v) => Math.max(a, Math.abs(v)), 1e-3);
        r.forEach((v, i) => {
          const e = Math.abs(v - out[name][i]) / scale;
          if (!(e <= worst.error)) worst = { error: e, at: `${name}[${i}]` }; // NaN wins too
        });
      }
      return worst;
    })(compile(graph, { backend, poison: true })),
  );
