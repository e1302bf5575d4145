/**
 * A model whose linear layers see activation outlier channels, made from any model by exact
 * equivalence transforms (SmoothQuant's migration run backwards), so that activation quantization
 * can be scored on a model with outliers where none is at hand (large LLaMAs have them in a few
 * hidden channels and in down_proj's input; tinystories-656k does not). Per layer, with factor α:
 * - qkv and gate_up inputs: the RMSNorm weight of channel c times α, column c of q / k / v (or
 *   gate / up) divided by α;
 * - o input: row d of v (per KV head) times α, the matching columns of o (every query head of
 *   that KV head) divided by α — attention's output is linear in V;
 * - down input: row j of up times α, column j of down divided by α — silu(gate)·(α up) = α·(…).
 * In f32 the transformed model computes the same function up to rounding. lm_head is untouched.
 * Browser-safe.
 */
import { tensorNames } from '../model/config';
import type { ReferenceWeights } from '../model/reference';

export interface OutlierSpec {
  /** How much larger than their neighbours the chosen channels become. */
  factor: number;
  /** Hidden channels given outliers (qkv and gate_up inputs). */
  hidden: number[];
  /** Dimensions within a head given outliers, in every KV head (o input). */
  headDims: number[];
  /** Intermediate channels given outliers (down input). */
  intermediate: number[];
}

function scaleRows(w: Float32Array, cols: number, rows: number[], f: number): void {
  for (const r of rows) for (let k = 0; k < cols; k++) w[r * cols + k] *= f;
}

function scaleCols(w: Float32Array, cols: number, which: number[], f: number): void {
  for (let r = 0; r < w.length / cols; r++) for (const c of which) w[r * cols + c] *= f;
}

/** The weights of `src` with outlier channels per `spec` (copies; `src` is not changed). */
export function withActivationOutliers(src: ReferenceWeights, spec: OutlierSpec): ReferenceWeights {
  const c = src.config;
  const { factor: a } = spec;
  if (!(a > 0)) throw new Error(`outliers: factor must be positive, got ${a}`);
  const check = (what: string, idx: number[], n: number) => {
    const bad = idx.find((i) => !Number.isInteger(i) || i < 0 || i >= n);
    if (bad !== undefined) throw new Error(`outliers: ${what} channel ${bad} is outside 0 … ${n - 1}`);
  };
  check('hidden', spec.hidden, c.hiddenSize);
  check('head', spec.headDims, c.headDim);
  check('intermediate', spec.intermediate, c.intermediateSize);
  const H = c.hiddenSize;
  const I = c.intermediateSize;
  const qDim = c.numHeads * c.headDim;
  const changed = new Map<string, Float32Array>();
  const copy = (name: string) => {
    let w = changed.get(name);
    if (!w) {
      w = Float32Array.from(src.weight(name));
      changed.set(name, w);
    }
    return w;
  };
  for (let i = 0; i < c.numLayers; i++) {
    const l = tensorNames.layer(i);
    for (const [norm, linears] of [
      [l.attnNorm, [l.q, l.k, l.v]],
      [l.mlpNorm, [l.gate, l.up]],
    ] as const) {
      const g = copy(norm);
      for (const ch of spec.hidden) g[ch] *= a;
      for (const name of linears) scaleCols(copy(name), H, spec.hidden, 1 / a);
    }
    // v rows: KV head h, dimension d at h·headDim + d; o columns: query head q at q·headDim + d.
    // Every KV head and every query head: whichever KV head a query head reads, its d is scaled.
    const vRows = Array.from({ length: c.numKvHeads }, (_, h) =>
      spec.headDims.map((d) => h * c.headDim + d),
    ).flat();
    scaleRows(copy(l.v), H, vRows, a);
    const oCols = Array.from({ length: c.numHeads }, (_, q) =>
      spec.headDims.map((d) => q * c.headDim + d),
    ).flat();
    scaleCols(copy(l.o), qDim, oCols, 1 / a);
    scaleRows(copy(l.up), H, spec.intermediate, a);
    scaleCols(copy(l.down), I, spec.intermediate, 1 / a);
  }
  return { config: c, weight: (name) => changed.get(name) ?? src.weight(name) };
}
