/**
 * `npm run bench`: benchmarks on the current WebGPU adapter (Node + Dawn). Results are printed as
 * a table and, with --out FILE, written as JSON. Figures are ratios to the measured bandwidth of
 * the same device in the same run; a figure above that roofline is a measurement bug and aborts.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { acquireDevice } from '../src/gpu/device';
import { measureBandwidth } from './bandwidth';

declare const __PAGELM_COMMIT__: string;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      'buffer-mib': { type: 'string' },
      buffers: { type: 'string', default: '4' },
    },
  });
  const gpu = await acquireDevice({ dawnToggles: ['disable-dawn-features=timestamp_quantization'] });
  const software = /llvmpipe|swiftshader|software/i.test(
    `${gpu.caps.adapter.description} ${gpu.caps.adapter.architecture}`,
  );
  const bufferMiB = Number(values['buffer-mib'] ?? (software ? 16 : 256));
  const buffers = Number(values.buffers);
  const device = gpu.caps.adapter.device || gpu.caps.adapter.description;
  const header = { device, date: new Date().toISOString(), commit: __PAGELM_COMMIT__ };
  console.log(`pagelm bench — ${device} — ${header.date} — commit ${header.commit}`);

  const bandwidth = await measureBandwidth(gpu, bufferMiB, buffers);
  console.log('\nmemory bandwidth (rotating buffers, past L2)');
  console.log('kernel  buffers      GB/s   timing     spread');
  for (const r of bandwidth) {
    console.log(
      `${r.kernel.padEnd(7)} ${`${r.buffers}×${r.bufferMiB} MiB`.padEnd(12)} ${r.gbPerSecond.toFixed(1).padStart(8)}   ${r.method.padEnd(9)}  ${(100 * r.spread).toFixed(1)}%`,
    );
  }
  if (values.out) writeFileSync(values.out, JSON.stringify({ ...header, bandwidth }, null, 2));
  gpu.device.destroy();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench: ${(e as Error).stack ?? e}`);
    process.exit(1);
  },
);
