/**
 * Round-to-nearest: the scale rule of each scheme at γ = 1 and nearest integers. Also the scale
 * initialisation that clip search and GPTQ start from.
 */
import { assignCodes, groupStats, newGrid, w4a8Scale, w4a16Params } from './grid';
import { pickOutlierPositions, planW2Row, setOutlierResiduals } from './mixed-2-4';
import type { QuantGrid, QuantScheme } from './types';

/**
 * RTN (scale, bias) of every group (and w2-4-16 precisions / codes) from W; leaves grid.q alone.
 *  - w4a8: symmetric, scale = absmax/7 per channel or per group.
 *  - w4a16: asymmetric min/max per 128-group (f16 scale and bias, see w4a16Params).
 *  - w2-4-16: see planW2Row.
 */
export function rtnParams(grid: QuantGrid, W: Float32Array): void {
  const { N, K, nGroups, groupSize, scale, bias } = grid;
  for (let n = 0; n < N; n++) {
    const row = W.subarray(n * K, (n + 1) * K);
    if (grid.scheme === 'w2-4-16') {
      planW2Row(grid, row, n);
      continue;
    }
    for (let g = 0; g < nGroups; g++) {
      const st = groupStats(row, g * groupSize, Math.min(K, (g + 1) * groupSize));
      const gi = n * nGroups + g;
      if (grid.scheme === 'w4a8') {
        scale[gi] = w4a8Scale(st.absmax);
        bias[gi] = 0;
      } else {
        const [s, b] = w4a16Params(st.min, st.max);
        scale[gi] = s;
        bias[gi] = b;
      }
    }
  }
}

export interface RtnOptions {
  /** w4a8 only: group size (multiple of 32); 0/undefined = per output channel. */
  groupSize?: number;
  /** w2-4-16 only: fraction of each row's 2-bit-group weights kept as fp16 residuals. */
  outlierFraction?: number;
  /** w2-4-16 only: per-column weight of the outlier score (e.g. ‖X_k‖ from calibration). */
  outlierColWeight?: ArrayLike<number>;
}

export const DEFAULT_OUTLIER_FRACTION = 0.005;

/** Round-to-nearest quantization of W [N, K] into the scheme's grid. */
export function rtnQuantize(
  W: Float32Array,
  N: number,
  K: number,
  scheme: QuantScheme,
  opts: RtnOptions = {},
): QuantGrid {
  const grid = newGrid(scheme, N, K, opts.groupSize);
  rtnParams(grid, W);
  assignCodes(grid, W);
  if (scheme === 'w2-4-16') addOutliers(grid, W, opts.outlierFraction, opts.outlierColWeight);
  return grid;
}

/** Choose outliers from the current grid's error and store their residuals. */
export function addOutliers(
  grid: QuantGrid,
  W: Float32Array,
  fraction = DEFAULT_OUTLIER_FRACTION,
  colWeight?: ArrayLike<number>,
): void {
  setOutlierResiduals(grid, W, pickOutlierPositions(grid, W, fraction, colWeight));
}
