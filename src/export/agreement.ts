// The manifest against the plan: the runtime feeds the manifest's tensors and noise to the plan's
// inputs and cuts its outputs into images by the manifest's config, so the two must agree on every
// name and size. A manifest edited and re-checksummed (a tensor renamed, the image size changed)
// is stopped here instead of drawing a wrong picture.
import type { CheckedPlan } from './plan.ts';
import { fail } from './fields.ts';
import type { Manifest } from './manifest.ts';

/** What the runtime reads of the write attention for `Drawing.write` and `box`. */
export const WRITE_OUTPUTS = ['gx', 'gy', 'delta', 'sigma', 'gamma'].map((k) => `write.${k}`);

const field = (path: string) => ({ file: 'manifest.json', path });
const quoted = JSON.stringify;
const program = (path: string) => ({ file: 'program.json', path });

const checkInputs = (m: Manifest, { plan }: CheckedPlan): void => {
  const { T, zSize } = m.config;
  const tensors = new Map(m.weights.tensors.map((t, i) => [t.name, { t, path: `weights.tensors[${i}]` }]));
  const noise = plan.inputs.find((i) => i.name === m.noise);
  if (!noise) fail(field('noise'), `is ${quoted(m.noise)}, which is not an input of program.json`);
  else if (noise.size !== T * m.batch * zSize)
    fail(
      field('config'),
      `gives T·batch·zSize = ${T}·${m.batch}·${zSize} = ${T * m.batch * zSize} noise values, but program.json's input ${quoted(m.noise)} has ${noise.size}`,
    );
  // a renamed tensor is named where it was renamed, before the input it leaves without weights
  const read = new Set(plan.inputs.map((i) => i.name));
  m.weights.tensors.forEach((t, i) => {
    if (!read.has(t.name))
      fail(field(`weights.tensors[${i}].name`), `is ${quoted(t.name)}, which program.json does not read`);
    if (t.name === m.noise) fail(field(`weights.tensors[${i}].name`), `is ${quoted(t.name)}, the noise input's name`);
  });
  for (const input of plan.inputs) {
    if (input.name === m.noise) continue;
    const entry = tensors.get(input.name);
    if (!entry) fail(field('weights.tensors'), `has no entry for program.json's input ${quoted(input.name)}`);
    else if (entry.t.length !== input.size)
      fail(
        field(`${entry.path}.length`),
        `is ${entry.t.length}, but program.json's input ${quoted(input.name)} has ${input.size} values`,
      );
  }
};

const checkOutputs = (m: Manifest, { plan, sizes }: CheckedPlan): void => {
  const { T, A, B, channels, writeAttention } = m.config;
  const sizeOf = (name: string) => {
    const out = plan.outputs.find((o) => o.name === name);
    return out ? sizes.get(out.id)! : fail(program('outputs'), `has no ${quoted(name)}`);
  };
  const canvas = sizeOf('canvas');
  const pixels = T * m.batch * A * B * channels;
  if (canvas !== pixels)
    fail(
      field('config'),
      `gives T·batch·A·B·channels = ${T}·${m.batch}·${A}·${B}·${channels} = ${pixels} canvas values, but program.json's canvas output has ${canvas}`,
    );
  const writes = plan.outputs.filter((o) => o.name.startsWith('write.'));
  if (!writeAttention && writes.length > 0)
    fail(field('config.writeAttention'), `is false, but program.json has output ${quoted(writes[0].name)}`);
  if (!writeAttention) return;
  for (const name of WRITE_OUTPUTS) sizeOf(name);
  for (const { name, id } of writes)
    if (sizes.get(id) !== T * m.batch)
      fail(
        program('outputs'),
        `has ${quoted(name)} of ${sizes.get(id)} values, expected T·batch = ${T * m.batch} (manifest.json's config and batch)`,
      );
};

/** Fails with the first name or size on which `m` and `plan` disagree. */
export const checkAgreement = (m: Manifest, plan: CheckedPlan): void => {
  checkInputs(m, plan);
  checkOutputs(m, plan);
};
