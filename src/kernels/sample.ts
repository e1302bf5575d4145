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
  /**
   * Forgets the last recorded step's random draw (for an undone speculative step). mulberry32's
   * state only ever adds a constant per draw, so the state after n draws is seed + n·C.
   */
  undoLastDraw(): void;
}

/** mulberry32's per-draw state increment (shaders/sample.wgsl next_uniform). */
const MULBERRY_STEP = 0x6d2b79f5;

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
  // Draws recorded since the seed: each non-greedy step takes exactly one uniform.
  let seed = 0;
  let draws = 0;
  let greedy = true;
  const writeState = () =>
    device.queue.writeBuffer(
      rng,
      0,
      new Uint32Array([(seed + Math.imul(draws, MULBERRY_STEP)) >>> 0, 0, 0, 0]),
    );
  const setSeed = (s: number) => {
    seed = s >>> 0;
    draws = 0;
    writeState();
  };
  setParams({ temperature: 0 });
  setSeed(0);
  return {
    setParams: (p) => {
      greedy = !((p.temperature ?? 1) > 0);
      setParams(p);
    },
    setSeed,
    undoLastDraw: () => {
      if (greedy) return;
      draws -= 1;
      writeState();
    },
    encode: (pass) => {
      if (!greedy) draws += 1;
      dispatch(pass, pipeline, group, 1);
    },
    destroy: () => {
      for (const x of [params, work, rng]) x.destroy();
    },
  };
}
