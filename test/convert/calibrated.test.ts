import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CALIBRATION_TEXT } from '../../src/convert/calibration-text';
import { type ConvertOptions, type ConvertSummary, convertCheckpoint } from '../../src/convert/convert';
import type { Checkpoint } from '../../src/format/checkpoint';
import { sha256Hex } from '../../src/format/digest';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { fusedNames } from '../../src/format/pack';
import { tensorNames } from '../../src/model/config';
import { packReferenceWeights } from '../../src/model/pack-weights';
import { ReferenceModel } from '../../src/model/reference';
import { directorySource } from '../../src/node/file-source';
import { EVAL_TEXT } from '../../src/quality/eval-text';
import { compareModels } from '../../src/quality/quality';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { checkTensorBound, MemoryPackSink, openMemoryPack, originalOf, TINYSTORIES } from './helpers';

/**
 * Calibrated methods on tinystories-656k, kept small for CI: ~600 calibration tokens, ~350 eval
 * tokens. The quality comparison runs the CPU reference on the dequantized pack (with int8
 * activations for w4a8, as the GPU computes) against the original model.
 */
const CALIB = DEFAULT_CALIBRATION_TEXT.slice(0, 2500);

let ckpt: Checkpoint;
let ref: ReferenceModel;
let evalTokens: number[];

beforeAll(async () => {
  ckpt = await openHfCheckpoint(directorySource(TINYSTORIES));
  ref = await ReferenceModel.load(ckpt);
  evalTokens = TextTokenizer.fromFiles(ckpt.tokenizer).encode(EVAL_TEXT.slice(0, 1400));
});

async function convertAndScore(
  opts: ConvertOptions,
): Promise<{ summary: ConvertSummary; kl: number; top1: number }> {
  const sink = new MemoryPackSink();
  const summary = await convertCheckpoint(ckpt, sink, { calibText: CALIB, ...opts });
  const pack = await openMemoryPack(sink);
  const test = ReferenceModel.fromWeights(await packReferenceWeights(pack), {
    activationQuant: opts.scheme === 'w4a8' ? 'int8-per-token' : undefined,
  });
  const q = await compareModels(ref, test, evalTokens);
  return { summary, kl: q.klMean, top1: q.top1Agreement };
}

describe('calibrated conversion (tinystories-656k)', () => {
  it('w4a16: clip and GPTQ beat RTN on held-out text; output errors are reported', async () => {
    const rtn = await convertAndScore({ scheme: 'w4a16', method: 'rtn' });
    const clip = await convertAndScore({ scheme: 'w4a16', method: 'clip' });
    const gptq = await convertAndScore({ scheme: 'w4a16', method: 'gptq' });
    console.log(
      `w4a16 KL mean: rtn ${rtn.kl.toExponential(3)} (top1 ${rtn.top1.toFixed(3)}), clip ${clip.kl.toExponential(3)} (${clip.top1.toFixed(3)}), gptq ${gptq.kl.toExponential(3)} (${gptq.top1.toFixed(3)})`,
    );
    expect(gptq.kl).toBeLessThan(rtn.kl);
    expect(clip.kl).toBeLessThan(rtn.kl);
    expect(gptq.summary.method).toBe('gptq');
    expect(gptq.summary.calibration!.tokens).toBeGreaterThan(300);
    expect(gptq.summary.manifest.provenance.calibration).toEqual({
      tokens: gptq.summary.calibration!.tokens,
      sha256: await sha256Hex(new TextEncoder().encode(CALIB)),
    });
    for (const t of gptq.summary.tensors.filter((x) => x.shape.length === 2)) {
      // The tied lm_head doubles as the embedding table: clip, not GPTQ (see convert.ts).
      expect(t.method).toBe(t.name === tensorNames.lmHead ? 'clip' : 'gptq');
      expect(t.relOutputError!, t.name).toBeGreaterThan(0);
      expect(t.relOutputError!, t.name).toBeLessThan(0.05);
    }
    expect(rtn.summary.calibration).toBeUndefined();
  });

  it('w2-4-16 GPTQ beats RTN', async () => {
    const rtn = await convertAndScore({ scheme: 'w2-4-16', method: 'rtn' });
    const gptq = await convertAndScore({ scheme: 'w2-4-16', method: 'gptq' });
    console.log(`w2-4-16 KL mean: rtn ${rtn.kl.toExponential(3)}, gptq ${gptq.kl.toExponential(3)}`);
    expect(gptq.kl).toBeLessThan(rtn.kl);
  });

  it('w4a8 SmoothQuant: factors folded into the norms exactly, columns scaled, quality kept', async () => {
    const plain = await convertAndScore({ scheme: 'w4a8', method: 'rtn' });
    const smooth = await convertAndScore({ scheme: 'w4a8', method: 'rtn', smoothQuant: { alpha: 0.5 } });
    const smoothGptq = await convertAndScore({ scheme: 'w4a8', method: 'gptq', smoothQuant: true });
    console.log(
      `w4a8 KL mean (int8 activations): rtn ${plain.kl.toExponential(3)}, rtn+smooth ${smooth.kl.toExponential(3)}, gptq+smooth ${smoothGptq.kl.toExponential(3)}`,
    );
    expect(smooth.summary.manifest.smoothQuant).toEqual({ alpha: 0.5 });
    expect(plain.summary.manifest.smoothQuant).toBeUndefined();
    expect(smoothGptq.kl).toBeLessThan(plain.kl);
    // Smoothing is exact in real arithmetic: a tiny model with mild outliers should not get much worse.
    expect(smooth.kl).toBeLessThan(plain.kl * 1.5);

    // norm' = norm / s and W' = W · diag(s): recover s from the norms; the dequantized columns
    // divided by s are the original weights within the w4a8 bound (scaled by 1/s).
    const sink = new MemoryPackSink();
    await convertCheckpoint(ckpt, sink, { scheme: 'w4a8', smoothQuant: true, calibText: CALIB });
    const pack = await openMemoryPack(sink);
    const H = ckpt.config.hiddenSize;
    const l = tensorNames.layer(0);
    const normOrig = await ckpt.readTensor(l.attnNorm);
    const normPack = await pack.dequantizeTensor(l.attnNorm);
    const s = normOrig.map((w, j) => w / normPack[j]);
    expect(s.some((x) => Math.abs(x - 1) > 0.05)).toBe(true);
    const orig = await originalOf(ckpt, fusedNames.qkv(0));
    const scaled = orig.map((w, i) => w * s[i % H]);
    await checkTensorBound(pack, fusedNames.qkv(0), scaled);
  });
});
