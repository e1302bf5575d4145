import { parseArgs } from 'node:util';
import { acquireDevice } from '../gpu/device';
import { formatDoctor, runDoctor } from '../gpu/doctor';
import { fastbinsState } from '../node/malloc-tunables';

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
  // The host side of decode speed in Node: glibc's fastbins (src/node/malloc-tunables.ts).
  const host = { node: process.version, mallocFastbins: fastbinsState() };
  console.log(
    values.json
      ? JSON.stringify({ ...report, host }, null, 2)
      : `${formatDoctor(report)}\nhost: node ${host.node}, glibc malloc fastbins ${host.mallocFastbins ?? 'n/a (not glibc)'}`,
  );
  gpu.device.destroy();
}
