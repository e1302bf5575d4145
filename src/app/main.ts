/**
 * The chat page's entry. For now it checks WebGPU and says which kernel path this GPU will use,
 * or explains, in plain words, why this browser cannot run pagelm.
 */
import { acquireDevice } from '../gpu/device';
import { runDoctor } from '../gpu/doctor';

const $ = (id: string) => document.getElementById(id)!;

async function start(): Promise<void> {
  try {
    const gpu = await acquireDevice();
    const report = await runDoctor(gpu);
    const dot4 = report.verdicts[0].ok;
    const name =
      gpu.caps.adapter.description || gpu.caps.adapter.architecture || gpu.caps.adapter.vendor || 'GPU';
    $('status').textContent =
      `${name} · ${dot4 ? 'W4A8 dot4' : 'no dot4 (W4A16 path)'} · ` +
      `${gpu.caps.features.shaderF16 ? 'f16 available (packed path in use)' : 'no-f16 path'}`;
    $('empty').hidden = false;
  } catch (e) {
    const err = e as Error;
    $('status').textContent = 'WebGPU unavailable';
    $('no-webgpu-reason').textContent = err.message;
    $('no-webgpu').hidden = false;
  }
}

void start();
