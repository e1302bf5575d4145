/**
 * pagelm quantizers: one entry point, quantizeLinear, from an f32 weight [N, K] to the exact
 * components of docs/FORMAT.md, by RTN, clip search or GPTQ. Everything here is plain
 * TypeScript on typed arrays (runs in Node, a page or a worker).
 */
import { type CalibContext, type Calibration, toCalibContext } from './calib';
import { type ClipOptions, clipSearch } from './clip';
import { type GptqOptions, gptqQuantize } from './gptq';
import { assignCodes, newGrid } from './grid';
import { bitsPerWeight, dequantize, dequantizeGrid, packF16, packF32, packGrid } from './layouts';
import { relativeOutputErrorCalib, weightErrors } from './metrics';
import { addOutliers, DEFAULT_OUTLIER_FRACTION, rtnParams, rtnQuantize } from './rtn';
import type { Components, Method, QuantGrid, QuantStats, Scheme } from './types';

export type { CalibOptions, Calibration, ClipFactor, GptqFactor } from './calib';
export { CalibContext } from './calib';
export type { ClipOptions } from './clip';
export { clipSearch } from './clip';
export {
  f16BitsToF32,
  f16CeilBits,
  f16FloorBits,
  f32ArrayToF16Bits,
  f32ToF16Bits,
  pack2x16float,
  roundF16,
  unpack2x16float,
} from './f16';
export type { GptqOptions } from './gptq';
export { gptqCore, gptqQuantize } from './gptq';
export { GramAccumulator, gramOf } from './gram';
export {
  bitsPerWeight,
  componentBytes,
  dequantize,
  dequantizeGrid,
  packF16,
  packF32,
  packGrid,
  unpackGrid,
  W2_GROUP,
  W4A16_GROUP,
  w2Geometry,
  w2n4,
  w4a8Geometry,
} from './layouts';
export {
  choleskyInPlace,
  gemmNT,
  inverseCholeskyUpper,
  invertLowerInPlace,
  pivotedCholesky,
  ulCholeskyTransposed,
} from './linalg';
export { relativeOutputErrorCalib, weightErrors } from './metrics';
export { rtnParams, rtnQuantize } from './rtn';
export type { LinearWeight, SmoothOptions } from './smoothquant';
export {
  applySmoothing,
  chooseSmoothAlpha,
  fakeQuantActivationsA8,
  relativeOutputError,
  roundHalfEven,
  smoothActivations,
  smoothFactors,
  smoothGram,
  weightColumnAbsMax,
} from './smoothquant';
export type { Components, Method, OutlierSet, QuantGrid, QuantScheme, QuantStats, Scheme } from './types';

export interface QuantizeOptions {
  scheme: Scheme;
  /** Default 'rtn'. 'clip' without calibration minimises the weight error instead of the output error. */
  method?: Method;
  /** w4a8 only: scales per group of this many columns (multiple of 32); default per output channel. */
  groupSize?: number;
  /** Calibration activations of the linear's input (required by 'gptq'); share a CalibContext
   * between the linears that read the same input so G and its factors are computed once. */
  calib?: Calibration | CalibContext;
  /** w2-4-16: fraction of each row's 2-bit-group weights kept as fp16 residuals (default 0.005). */
  outlierFraction?: number;
  clip?: ClipOptions;
  /** GPTQ knobs; gptq.scale = 'clip' gives the "LWC picks the scale, GPTQ picks the integers" recipe. */
  gptq?: Omit<GptqOptions, 'groupSize' | 'outlierFraction' | 'clip'>;
  /** Also compute stats.relOutputError (costs about one more clip-search pass). */
  measureOutputError?: boolean;
}

export interface QuantizedLinear {
  scheme: Scheme;
  N: number;
  K: number;
  components: Components;
  bitsPerWeight: number;
  stats: QuantStats;
  /** Integers and group parameters (quantized schemes). */
  grid?: QuantGrid;
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}

/** Quantize one linear weight W [N, K] (row-major f32) into a pack scheme. */
export function quantizeLinear(
  W: Float32Array,
  N: number,
  K: number,
  opts: QuantizeOptions,
): QuantizedLinear {
  if (W.length !== N * K) throw new Error(`quantizeLinear: W has ${W.length} values, expected ${N}·${K}`);
  const t0 = now();
  const method = opts.method ?? 'rtn';
  const ctx = opts.calib ? toCalibContext(opts.calib, K) : null;
  const { scheme } = opts;
  let grid: QuantGrid | undefined;
  let components: Components;
  let meanClipRatio: number | undefined;
  if (scheme === 'f32' || scheme === 'f16') {
    components = scheme === 'f32' ? packF32(W, N, K) : packF16(W, N, K);
  } else {
    if (opts.groupSize && scheme !== 'w4a8')
      throw new Error(`quantizeLinear: groupSize applies to w4a8 only`);
    const fraction = opts.outlierFraction ?? DEFAULT_OUTLIER_FRACTION;
    if (method === 'rtn') {
      grid = rtnQuantize(W, N, K, scheme, {
        groupSize: opts.groupSize,
        outlierFraction: fraction,
        outlierColWeight: ctx?.colNorms(),
      });
    } else if (method === 'clip') {
      grid = newGrid(scheme, N, K, opts.groupSize);
      rtnParams(grid, W);
      assignCodes(grid, W);
      meanClipRatio = clipSearch(grid, W, ctx, opts.clip).meanRatio;
      if (scheme === 'w2-4-16') addOutliers(grid, W, fraction, ctx?.colNorms());
    } else if (method === 'gptq') {
      if (!ctx) throw new Error("quantizeLinear: method 'gptq' needs calibration data (opts.calib)");
      grid = gptqQuantize(W, N, K, scheme, ctx, {
        ...opts.gptq,
        groupSize: opts.groupSize,
        outlierFraction: fraction,
        clip: opts.clip,
      });
    } else {
      throw new Error(`quantizeLinear: unknown method ${String(method)}`);
    }
    components = packGrid(grid);
  }
  const seconds = (now() - t0) / 1000;
  const Wq = grid ? dequantizeGrid(grid) : dequantize(scheme, components, N, K);
  const stats: QuantStats = { method: grid ? method : 'none', seconds, ...weightErrors(W, Wq) };
  if (grid?.outliers) stats.outliers = grid.outliers.cols.length;
  if (meanClipRatio !== undefined) stats.meanClipRatio = meanClipRatio;
  if (opts.measureOutputError && ctx) stats.relOutputError = relativeOutputErrorCalib(W, Wq, N, K, ctx);
  return { scheme, N, K, components, bitsPerWeight: bitsPerWeight(components, N, K), stats, grid };
}
