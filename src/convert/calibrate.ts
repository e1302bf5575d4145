import type { Checkpoint } from '../format/checkpoint';
import { sha256Hex } from '../format/digest';
import type { LinearName } from '../model/reference';
import { ReferenceModel } from '../model/reference';
import { GramAccumulator } from '../quant';
import type { TextTokenizer } from '../tokenizer/tokenizer';

/**
 * Calibration statistics for clip search, GPTQ and SmoothQuant: the CPU reference forward
 * (src/model/reference.ts, the original fp32 weights) runs over the calibration text, and the
 * input of every linear is accumulated into a Gram matrix XᵀX plus per-channel max |x|. Linears
 * that read the same input share one accumulator: q/k/v ('qkv'), gate/up ('gate_up'); then 'o',
 * 'down' and 'lm_head'. Quantizing the fused qkv / gate_up matrix with the shared Gram is the same
 * as quantizing q, k, v separately (rows are independent), with one Hessian factorization.
 *
 * Grams cost 8·K² bytes each (a 1B model's down_proj: 512 MiB per layer), so they are collected
 * for a window of layers at a time within `gramBudgetBytes`; each window costs one forward pass
 * over the text. The converter asks for layers in order, so each window is computed once.
 */

export type InputKey = 'qkv' | 'o' | 'gate_up' | 'down' | 'lm_head';

export interface InputStats {
  /** XᵀX [K, K], row-major. */
  gram: Float64Array;
  /** Tokens accumulated. */
  T: number;
  /** Per input channel max |x|. */
  absMax: Float32Array;
}

export interface CalibrationOptions {
  text: string;
  /** Tokens per forward pass (BOS included); default min(maxPositionEmbeddings, 512). */
  chunkTokens?: number;
  /** Cap on calibration tokens (default 8192). */
  maxTokens?: number;
  /** Memory for Gram matrices held at once (default 1 GiB). */
  gramBudgetBytes?: number;
  onProgress?(e: CalibrationEvent): void;
}

export interface CalibrationEvent {
  kind: 'calibration';
  /** First and last layer (inclusive; numLayers = lm_head) of this pass. */
  layers: [number, number];
  chunk: number;
  chunks: number;
  seconds: number;
}

const INPUT_OF: Record<LinearName, InputKey | null> = {
  q: 'qkv',
  k: null, // same array as q
  v: null,
  o: 'o',
  gate: 'gate_up',
  up: null, // same array as gate
  down: 'down',
  lm_head: 'lm_head',
};

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

export class Calibrator {
  private window: {
    first: number;
    last: number;
    acc: Map<string, GramAccumulator>;
    results: Map<string, InputStats>;
  } | null = null;
  private readonly budget: number;
  /** Wall time spent on calibration so far: loading the model, tokenizing, forward passes, Grams. */
  seconds = 0;

  private constructor(
    private readonly model: ReferenceModel,
    private readonly chunks: number[][],
    readonly tokens: number,
    readonly sha256: string,
    private readonly opts: CalibrationOptions,
  ) {
    this.budget = opts.gramBudgetBytes ?? 1024 ** 3;
  }

  /** Tokenizes the text and loads the fp32 reference model (the whole checkpoint, once). */
  static async create(
    ckpt: Checkpoint,
    tokenizer: TextTokenizer,
    opts: CalibrationOptions,
  ): Promise<Calibrator> {
    const t0 = now();
    const c = ckpt.config;
    const chunkTokens = Math.min(opts.chunkTokens ?? 512, c.maxPositionEmbeddings);
    const bos = [...tokenizer.bosPrefix];
    if (chunkTokens <= bos.length)
      throw new Error(`calibration: chunks of ${chunkTokens} tokens are too short`);
    const ids = tokenizer.encode(opts.text, { addBos: false }).slice(0, opts.maxTokens ?? 8192);
    if (ids.length === 0) throw new Error('calibration: the calibration text is empty');
    const bad = ids.find((id) => id >= c.vocabSize);
    if (bad !== undefined)
      throw new Error(`calibration: token id ${bad} is outside the model's vocabulary (${c.vocabSize})`);
    const chunks: number[][] = [];
    const body = chunkTokens - bos.length;
    for (let i = 0; i < ids.length; i += body) chunks.push([...bos, ...ids.slice(i, i + body)]);
    const tokens = chunks.reduce((s, ch) => s + ch.length, 0);
    const sha256 = await sha256Hex(new TextEncoder().encode(opts.text));
    const model = await ReferenceModel.load(ckpt);
    const cal = new Calibrator(model, chunks, tokens, sha256, opts);
    cal.seconds = (now() - t0) / 1000;
    return cal;
  }

  /** Statistics of the input of `key` in `layer` (layer = numLayers for lm_head). */
  stats(layer: number, key: InputKey): InputStats {
    const c = this.model.config;
    if (key === 'lm_head' ? layer !== c.numLayers : !(layer >= 0 && layer < c.numLayers)) {
      throw new Error(`calibration: no input ${key} in layer ${layer}`);
    }
    const t0 = now();
    if (!this.window || layer < this.window.first || layer > this.window.last) this.runWindow(layer);
    const id = `${layer}:${key}`;
    let r = this.window!.results.get(id);
    if (!r) {
      const acc = this.window!.acc.get(id)!;
      r = { ...acc.result(), absMax: acc.absMax };
      this.window!.results.set(id, r);
      this.window!.acc.delete(id); // result() copied the Gram; keep one copy only
    }
    this.seconds += (now() - t0) / 1000;
    return r;
  }

  private inputsOf(layer: number): [InputKey, number][] {
    const c = this.model.config;
    if (layer === c.numLayers) return [['lm_head', c.hiddenSize]];
    return [
      ['qkv', c.hiddenSize],
      ['o', c.numHeads * c.headDim],
      ['gate_up', c.hiddenSize],
      ['down', c.intermediateSize],
    ];
  }

  /** One forward pass over the text, accumulating the layers [first, last] that fit the budget. */
  private runWindow(first: number): void {
    const c = this.model.config;
    this.window = null; // drop the previous window's Grams before allocating new ones
    const acc = new Map<string, GramAccumulator>();
    let bytes = 0;
    let last = first;
    for (let l = first; l <= c.numLayers; l++) {
      const inputs = this.inputsOf(l);
      const need = inputs.reduce((s, [, K]) => s + 8 * K * K, 0);
      if (l > first && bytes + need > this.budget) break;
      for (const [key, K] of inputs) acc.set(`${l}:${key}`, new GramAccumulator(K));
      bytes += need;
      last = l;
    }
    const t0 = now();
    const withHead = last === c.numLayers;
    this.chunks.forEach((chunk, i) => {
      const session = this.model.newSession(chunk.length);
      session.forward(chunk, {
        allLogits: withHead,
        onLinearInput: (layer, name, x) => {
          const key = INPUT_OF[name];
          if (key === null || layer < first || layer > last) return;
          const a = acc.get(`${layer}:${key}`)!;
          a.add(x, x.length / a.K);
        },
      });
      this.opts.onProgress?.({
        kind: 'calibration',
        layers: [first, last],
        chunk: i + 1,
        chunks: this.chunks.length,
        seconds: (now() - t0) / 1000,
      });
    });
    this.window = { first, last, acc, results: new Map() };
  }
}
