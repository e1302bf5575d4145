import { parseArgs } from 'node:util';
import { acquireDevice } from '../gpu/device';
import { formatDoctor, runDoctor } from '../gpu/doctor';

export async function doctorCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, unsafe: { type: 'boolean', default: false } },
  });
  // --unsafe asks Dawn for experimental features (e.g. subgroup-matrix on the H100).
  const gpu = await acquireDevice({
    dawnToggles: values.unsafe ? ['enable-dawn-features=allow_unsafe_apis'] : [],
  });
  const report = await runDoctor(gpu);
  console.log(values.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  gpu.device.destroy();
}
