import { beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../../src/convert/convert';
import { memoryDirectory } from '../../src/format/byte-source';
import type { Checkpoint } from '../../src/format/checkpoint';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { openPack } from '../../src/format/pack-reader';
import { MemoryPackSink } from '../../src/format/pack-writer';
import {
  ACTIVATION_GROUP,
  type ActivationQuant,
  quantizeActivationsGrouped,
  ReferenceModel,
  type ReferenceWeights,
} from '../../src/model/reference';
import { directorySource } from '../../src/node/file-source';
import { EVAL_TEXT } from '../../src/quality/eval-text';
import { evaluatePack } from '../../src/quality/evaluate';
import { type OutlierSpec, withActivationOutliers } from '../../src/quality/outliers';
import { compareModels, type QualityReport } from '../../src/quality/quality';
import { TextTokenizer } from '../../src/tokenizer/tokenizer';
import { TINYSTORIES } from '../helpers/models';

describe('quantizeActivationsGrouped', () => {
  it('scales each group of each row by its own max, to within half a step', () => {
    const rows = 3;
    const dim = 150; // groups of 64, 64, 22
    const x = Float32Array.from({ length: rows * dim }, () => (Math.random() - 0.5) * 2);
    x[70] = 40; // an outlier in row 0's second group only
    for (let i = 0; i < 64; i++) x[dim + i] = 0; // an all-zero group
    const y = quantizeActivationsGrouped(x, rows, dim, 127, 64);
    for (let t = 0; t < rows; t++) {
      for (let g0 = 0; g0 < dim; g0 += 64) {
        const idx = Array.from({ length: Math.min(64, dim - g0) }, (_, i) => t * dim + g0 + i);
        const s = Math.max(...idx.map((i) => Math.abs(x[i]))) / 127;
        for (const i of idx) expect(Math.abs(y[i] - x[i])).toBeLessThanOrEqual(s / 2 + 1e-6);
      }
    }
    // The outlier coarsens its own group only: row 0's first group keeps a fine step.
    expect(Math.abs(y[5] - x[5])).toBeLessThan(1 / 127);
    // Per token (group = dim) the outlier's step covers the whole row.
    const perToken = quantizeActivationsGrouped(x, rows, dim, 127, dim);
    const err = (a: Float32Array, n: number) => Array.from({ length: n }, (_, i) => Math.abs(a[i] - x[i]));
    expect(Math.max(...err(perToken, 64))).toBeGreaterThan(Math.max(...err(y, 64)));
  });
});

/**
 * What activation quantization costs on real weights, without and with outlier channels injected
 * by an exact equivalence transform (src/quality/outliers.ts): the basis for choosing the 2/4/16
 * decode's activation levels (16-bit by default; per-token int8 is the opt-in `w2-a8`; per-group
 * int8 would keep int8's arithmetic). Weights stay f32, so the numbers are the activations' cost
 * alone. tinystories-656k is tiny (hidden 128 = two 64-column groups), so per-group scales can
 * protect only half a row here; a 7B's 4,096 columns are 64 groups.
 */
describe('activation quantization on tinystories-656k, with and without outlier channels (CPU reference)', () => {
  let ckpt: Checkpoint;
  let ref: ReferenceModel;
  let tokens: number[];
  // Two hidden channels in the first 64-column group (~1.6% of channels, as a 7B's ~6 of 4,096),
  // one dimension per head, two intermediate channels; 50× larger, as LLaMA's outliers.
  const spec: OutlierSpec = { factor: 50, hidden: [5, 9], headDims: [3], intermediate: [17, 200] };

  beforeAll(async () => {
    ckpt = await openHfCheckpoint(directorySource(TINYSTORIES));
    ref = await ReferenceModel.load(ckpt);
    const text = EVAL_TEXT.split('\n\n').slice(0, 5).join('\n\n');
    tokens = TextTokenizer.fromFiles(ckpt.tokenizer).encode(text);
  });

  // The transformed weights, made once (every tensor the spec touches is copied).
  let outlierWeights: ReferenceWeights | undefined;
  const score = (outliers: boolean, activationQuant?: ActivationQuant): Promise<QualityReport> => {
    const weights = outliers ? (outlierWeights ??= withActivationOutliers(ref, spec)) : ref;
    return compareModels(ref, ReferenceModel.fromWeights(weights, { activationQuant }), tokens);
  };

  it('the outlier transform refuses channels the model does not have, and a factor ≤ 0', () => {
    expect(() => withActivationOutliers(ref, { ...spec, hidden: [128] })).toThrow(
      /hidden channel 128 is outside 0 … 127/,
    );
    expect(() => withActivationOutliers(ref, { ...spec, headDims: [16] })).toThrow(/head channel 16/);
    expect(() => withActivationOutliers(ref, { ...spec, intermediate: [-1] })).toThrow(
      /intermediate channel -1/,
    );
    expect(() => withActivationOutliers(ref, { ...spec, factor: 0 })).toThrow(/factor must be positive/);
  });

  it('the outlier transform changes nothing in f32', async () => {
    const r = await score(true);
    expect(r.klMean).toBeLessThan(1e-6);
    expect(r.top1Agreement).toBe(1);
  });

  it('per-token int8 pays for the outliers; 16-bit levels do not', async () => {
    const modes: ActivationQuant[] = ['int16-per-token', 'int8-per-token', 'int8-per-group'];
    const rows: [string, QualityReport, QualityReport][] = [];
    for (const mode of modes) rows.push([mode, await score(false, mode), await score(true, mode)]);
    console.log(
      `activation levels, tinystories-656k f32 weights, ${tokens.length} tokens; KL mean (top-1) without / with outliers ×${spec.factor} (group ${ACTIVATION_GROUP}):\n` +
        rows
          .map(
            ([m, a, b]) =>
              `  ${m.padEnd(16)} ${a.klMean.toExponential(2)} (${a.top1Agreement.toFixed(3)}) / ${b.klMean.toExponential(2)} (${b.top1Agreement.toFixed(3)})`,
          )
          .join('\n'),
    );
    const [int16, int8, grouped] = rows;
    // The injected outliers really reach the quantizer: per-token int8 gets much worse with them …
    expect(int8[2].klMean).toBeGreaterThan(3 * int8[1].klMean);
    // … while 16-bit levels stay far below per-token int8's cost on either model.
    expect(int16[2].klMean).toBeLessThan(int8[2].klMean / 10);
    expect(grouped[2].klMean).toBeGreaterThan(0);
  });

  // The converter's SmoothQuant (W4A8 only) migrates the outliers of the norm-fed inputs (qkv,
  // gate_up) into the weights; o's and down's inputs have no norm to fold into.
  it('W4A8 (per-token int8 activations) with outliers, and what the converter’s SmoothQuant recovers', async () => {
    const withOutliers = (o: OutlierSpec): Checkpoint => {
      const weights = withActivationOutliers(ref, o);
      return {
        source: `${ckpt.source} with outliers ×${o.factor}`,
        config: ckpt.config,
        tokenizer: ckpt.tokenizer,
        generation: ckpt.generation,
        tensors: ckpt.tensors,
        readTensor: async (name) => Float32Array.from(weights.weight(name)),
      };
    };
    const kl = async (from: Checkpoint, smoothQuant: boolean) => {
      const sink = new MemoryPackSink();
      await convertCheckpoint(from, sink, {
        scheme: 'w4a8',
        method: 'rtn',
        smoothQuant,
        measureOutputError: false,
      });
      const pack = await openPack(memoryDirectory('pack', Object.fromEntries(sink.files)));
      return evaluatePack(pack, ref, tokens);
    };
    // Outliers in the norm-fed inputs only, then in all four.
    const normFed = withOutliers({ ...spec, headDims: [], intermediate: [] });
    const all = withOutliers(spec);
    const r = {
      plain: await kl(ckpt, false),
      normFed: await kl(normFed, false),
      normFedSq: await kl(normFed, true),
      all: await kl(all, false),
      allSq: await kl(all, true),
    };
    console.log(
      `w4a8 rtn, tinystories-656k, KL mean (top-1), outliers ×${spec.factor}:\n` +
        Object.entries(r)
          .map(([k, q]) => `  ${k.padEnd(10)} ${q.klMean.toExponential(2)} (${q.top1Agreement.toFixed(3)})`)
          .join('\n'),
    );
    expect(r.normFed.klMean).toBeGreaterThan(1.5 * r.plain.klMean);
    // SmoothQuant undoes the norm-fed outliers (measured: 0.368 → 0.199 nats, plain 0.206) …
    expect(r.normFedSq.klMean).toBeLessThan(0.7 * r.normFed.klMean);
    // … and o's / down's outliers stay (all four: 0.615, with SmoothQuant 0.658): no migration
    // path for them in the converter yet.
    expect(r.all.klMean).toBeGreaterThan(r.normFed.klMean);
    expect(r.allSq.klMean).toBeGreaterThan(r.normFedSq.klMean * 2);
  });
});
