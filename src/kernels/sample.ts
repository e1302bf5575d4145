import sampleWgsl from '../../shaders/sample.wgsl?raw';
import type { GpuContext } from '../gpu/device';
import { dispatch } from '../gpu/dispatch';
import type { SamplingParams } from '../model/sampling-reference';
import type { Encodable } from './encodable';

export const sampleShader = { name: 'sample', code: sampleWgsl };

export interface Sampler extends Encodable {
  /** Sets the sampling parameters for the following steps (temperature ≤ 0: greedy). */
  setParams(p: SamplingParams): void;
  /** Restarts the random stream (mulberry32 state = seed). */
  setSeed(seed: number): void;
}

/**
 * Picks the next token from `logits` ([vocab], the chunk's last token) on the GPU, with the
 * repetition penalty over history[0 … pos0 + tokens), into ids[0] and history[pos0 + tokens].
 */
export async function samplerKernel(
  gpu: GpuContext,
  b: { logits: GPUBuffer; vocab: number; ids: GPUBuffer; history: GPUBuffer; step: GPUBuffer },
): Promise<Sampler> {
  const { device } = gpu;
  const pipeline = await gpu.pipelines.get({
    shader: sampleShader,
    entryPoint: 'sample',
    constants: { WG: 256, VOCAB_WORDS: Math.ceil(b.vocab / 32) },
  });
  const params = device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  const work = device.createBuffer({ size: b.vocab * 4, usage: GPUBufferUsage.STORAGE });
  const rng = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const group = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [b.logits, b.ids, params, b.step, b.history, work, rng].map((buffer, binding) => ({
      binding,
      resource: { buffer },
    })),
  });
  const setParams = (p: SamplingParams) => {
    const t = p.temperature ?? 1;
    const greedy = !(t > 0);
    const words = new ArrayBuffer(24);
    const u = new Uint32Array(words);
    const f = new Float32Array(words);
    u[0] = b.vocab;
    u[1] = greedy ? 1 : 0;
    u[2] = Math.max(0, Math.floor(p.topK ?? 0));
    f[3] = p.topP ?? 1;
    f[4] = greedy ? 1 : 1 / t;
    f[5] = p.repetitionPenalty ?? 1;
    device.queue.writeBuffer(params, 0, words);
  };
  const setSeed = (seed: number) => device.queue.writeBuffer(rng, 0, new Uint32Array([seed >>> 0, 0, 0, 0]));
  setParams({ temperature: 0 });
  setSeed(0);
  return {
    setParams,
    setSeed,
    encode: (pass) => dispatch(pass, pipeline, group, 1),
    destroy: () => {
      for (const x of [params, work, rng]) x.destroy();
    },
  };
}
