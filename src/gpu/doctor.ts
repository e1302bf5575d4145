import probeWgsl from '../../shaders/probe.wgsl?raw';
import { readU32, storageBuffer, uploadBuffer } from './buffers';
import type { Capabilities, GpuContext } from './device';
import { bindGroup, dispatch } from './dispatch';

/**
 * `pagelm doctor`: what this WebGPU adapter offers and which pagelm kernel paths can run on it.
 * Each verdict comes from running a tiny probe kernel where one exists, not only from flags.
 */
export interface DoctorReport {
  caps: Capabilities;
  verdicts: { path: string; ok: boolean; detail: string }[];
}

const probeShader = { name: 'probe', code: probeWgsl };

/** CPU reference of dot4I8Packed. */
function dot4Ref(a: number, b: number): number {
  let s = 0;
  for (let i = 0; i < 4; i++) s += (((a >>> (8 * i)) << 24) >> 24) * (((b >>> (8 * i)) << 24) >> 24);
  return s;
}

async function probeDot4(gpu: GpuContext): Promise<string | null> {
  const words = new Uint32Array([0x7f80017f, 0x80807f01, 0xfffefd03, 0x04050607, 0x12345678, 0x9abcdef0]);
  const src = uploadBuffer(gpu.device, words);
  const out = storageBuffer(gpu.device, 12);
  try {
    const pipeline = await gpu.pipelines.get({ shader: probeShader, entryPoint: 'dot4' });
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    dispatch(pass, pipeline, bindGroup(gpu.device, pipeline, [src, out]), 3);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const got = new Int32Array((await readU32(gpu.device, out, 3)).buffer);
    for (let i = 0; i < 3; i++) {
      const want = dot4Ref(words[2 * i], words[2 * i + 1]);
      if (got[i] !== want) return `dot4I8Packed gave ${got[i]}, expected ${want}`;
    }
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  } finally {
    src.destroy();
    out.destroy();
  }
}

const MiB = 1024 * 1024;

export async function runDoctor(gpu: GpuContext): Promise<DoctorReport> {
  const { caps } = gpu;
  const verdicts: DoctorReport['verdicts'] = [];
  const dot4Error = await probeDot4(gpu);
  verdicts.push({
    path: 'W4A8 GEMV/GEMM (dot4I8Packed)',
    ok: dot4Error === null,
    detail: dot4Error ?? 'packed int8 dot product verified on the GPU',
  });
  verdicts.push({ path: 'W4A16 / 2-4-16 / f16 / f32 kernels', ok: true, detail: 'core WGSL only' });
  verdicts.push({
    path: 'f16 storage',
    ok: true,
    detail: caps.features.shaderF16
      ? 'shader-f16 present; pagelm still uses packed-u32 f16 so every adapter runs the same kernels'
      : 'no shader-f16: f16 data stays packed in u32 (unpack2x16float), as designed',
  });
  verdicts.push({
    path: 'subgroup reductions',
    ok: true,
    detail: caps.features.subgroups
      ? `subgroups, size ${caps.subgroupMinSize}–${caps.subgroupMaxSize}`
      : 'no subgroups: shared-memory reductions (slower, same results)',
  });
  const binding = caps.limits.maxStorageBufferBindingSize;
  verdicts.push({
    path: 'large tensors',
    ok: binding >= 16 * MiB,
    detail: `max storage binding ${(binding / MiB).toFixed(0)} MiB: larger tensors are bound in pieces`,
  });
  verdicts.push({
    path: 'GPU timing',
    ok: caps.features.timestampQuery,
    detail: caps.features.timestampQuery
      ? 'timestamp-query'
      : 'no timestamp-query: benchmarks use host timing',
  });
  verdicts.push({
    path: 'prefill on matrix units',
    ok: caps.features.subgroupMatrix,
    detail: caps.features.subgroupMatrix
      ? 'chromium-experimental-subgroup-matrix offered'
      : 'no subgroup-matrix: prefill uses dot4I8Packed / f32 tiles',
  });
  return { caps, verdicts };
}

export function formatDoctor(r: DoctorReport): string {
  const c = r.caps;
  const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
  const lines = [
    `adapter:   ${c.adapter.description || c.adapter.device || '(name hidden by the browser)'} (vendor ${c.adapter.vendor}, arch ${c.adapter.architecture}, device ${c.adapter.device})`,
    `runtime:   ${c.runtime}`,
    `features:  ${Object.entries(c.features)
      .map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`)
      .join(', ')}`,
    `subgroups: size ${c.subgroupMinSize}–${c.subgroupMaxSize}`,
    'limits:',
    `  maxStorageBufferBindingSize     ${mib(c.limits.maxStorageBufferBindingSize)}`,
    `  maxBufferSize                   ${mib(c.limits.maxBufferSize)}`,
    `  maxComputeWorkgroupStorageSize  ${c.limits.maxComputeWorkgroupStorageSize} B`,
    `  maxComputeInvocationsPerWorkgroup ${c.limits.maxComputeInvocationsPerWorkgroup}`,
    `  maxComputeWorkgroupsPerDimension  ${c.limits.maxComputeWorkgroupsPerDimension}`,
    `  maxStorageBuffersPerShaderStage ${c.limits.maxStorageBuffersPerShaderStage}`,
    `WGSL:      ${c.wgslLanguageFeatures.join(', ') || '(not reported)'}`,
    'kernels:',
    ...r.verdicts.map((v) => `  ${v.ok ? 'ok  ' : 'no  '} ${v.path.padEnd(32)} ${v.detail}`),
  ];
  return lines.join('\n');
}
