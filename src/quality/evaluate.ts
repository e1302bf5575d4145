/**
 * A pack against the checkpoint it came from, on the CPU reference: the glue between the pack
 * reader, the reference model and compareModels, shared by `pagelm quality` and the table script.
 * Browser-safe.
 */
import type { Checkpoint } from '../format/checkpoint';
import type { PackManifest } from '../format/pack';
import type { ModelConfig } from '../model/config';
import { type DequantizingPack, packReferenceWeights } from '../model/pack-weights';
import { ReferenceModel } from '../model/reference';
import { type CompareOptions, compareModels, type QualityReport } from './quality';

export interface PackQuality extends QualityReport {
  scheme: PackManifest['scheme'];
  method: PackManifest['method'];
  /** Bits per weight of the pack's linear weights (from its provenance). */
  bitsPerWeight: number;
  /** Whether the test side quantized activations per token to int8 (w4a8 packs, or `activations: 'int8'`). */
  activationQuant: boolean;
  /** The test side's KV cache: exact (f32) or int8 as the GPU's `kvCache: 'int8'` stores it. */
  kvCache: 'f32' | 'int8';
}

export interface PackCompareOptions extends CompareOptions {
  /** Run the pack with the GPU's int8 KV cache (ReferenceSessionOptions.kvCache). Default f32. */
  kvCache?: 'f32' | 'int8';
  /**
   * `int8`: every linear's input quantized per token to int8 whatever the scheme, as the GPU's
   * 2/4/16 decode matmuls compute with KernelTuning.w2DecodeActivationBits 8. Default: the
   * scheme's own (int8 for w4a8, f32 for the others).
   */
  activations?: 'int8';
}

/**
 * The reference model a pack stands for: its dequantized weights, int8 activations for w4a8
 * (or for any scheme with `int8Activations`).
 */
export async function packModel(pack: DequantizingPack, int8Activations = false): Promise<ReferenceModel> {
  const weights = await packReferenceWeights(pack);
  // W4A8 kernels quantize every linear's input per token; the other schemes keep f32 activations
  // unless asked (2/4/16's int8 decode option).
  return ReferenceModel.fromWeights(
    weights,
    int8Activations || pack.manifest.scheme === 'w4a8' ? { activationQuant: 'int8-per-token' } : {},
  );
}

const SHAPE_KEYS: (keyof ModelConfig)[] = [
  'hiddenSize',
  'intermediateSize',
  'numLayers',
  'numHeads',
  'numKvHeads',
  'headDim',
  'vocabSize',
];

/** Refuses to compare a pack with a checkpoint of another model (the numbers would be meaningless). */
export function checkSameModel(ref: ModelConfig, pack: ModelConfig): void {
  const diff = SHAPE_KEYS.filter((k) => ref[k] !== pack[k]);
  if (diff.length) {
    throw new Error(
      `the pack and the reference are different models (${diff.map((k) => `${k} ${pack[k]} vs ${ref[k]}`).join(', ')})`,
    );
  }
}

/** Compares the pack with the fp32 reference of `ckpt` over `tokens`. */
export async function evaluatePack(
  pack: DequantizingPack,
  ckpt: Checkpoint | ReferenceModel,
  tokens: number[],
  options: PackCompareOptions = {},
): Promise<PackQuality> {
  const ref = ckpt instanceof ReferenceModel ? ckpt : await ReferenceModel.load(ckpt);
  checkSameModel(ref.config, pack.manifest.config);
  const test = await packModel(pack, options.activations === 'int8');
  const kvCache = options.kvCache ?? 'f32';
  const testSessions = {
    config: test.config,
    newSession: (maxContext: number) => test.newSession(maxContext, { kvCache }),
  };
  const report = await compareModels(ref, testSessions, tokens, options);
  return {
    scheme: pack.manifest.scheme,
    method: pack.manifest.method,
    bitsPerWeight: pack.manifest.provenance.bitsPerWeight,
    activationQuant: test.activationQuant !== undefined,
    kvCache,
    ...report,
  };
}
