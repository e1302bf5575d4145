/** Error measures of a quantized weight against the original. */
import type { CalibContext } from './calib';

export function weightErrors(W: Float32Array, Wq: Float32Array): { maxAbsError: number; rmsError: number } {
  let max = 0;
  let sq = 0;
  for (let i = 0; i < W.length; i++) {
    const e = Math.abs(W[i] - Wq[i]);
    if (e > max) max = e;
    sq += e * e;
  }
  return { maxAbsError: max, rmsError: Math.sqrt(sq / Math.max(1, W.length)) };
}

/**
 * ‖(W − Wq)·Xᵀ‖² / ‖W·Xᵀ‖² on the calibration data, through the clip factor (G ≈ Fcᵀ·Fc): exact
 * when the context holds X with T ≤ clipRank, otherwise the truncated factor plus its diagonal
 * remainder. Cost 2·N·K·r.
 */
export function relativeOutputErrorCalib(
  W: Float32Array,
  Wq: Float32Array,
  N: number,
  K: number,
  ctx: CalibContext,
): number {
  const { Fc, r, residual } = ctx.clipFactor();
  const ye = new Float64Array(r);
  const yw = new Float64Array(r);
  let num = 0;
  let den = 0;
  for (let n = 0; n < N; n++) {
    ye.fill(0);
    yw.fill(0);
    for (let k = 0; k < K; k++) {
      const w = W[n * K + k];
      const e = w - Wq[n * K + k];
      const fk = k * r;
      for (let t = 0; t < r; t++) {
        const v = Fc[fk + t];
        ye[t] += e * v;
        yw[t] += w * v;
      }
      if (residual) {
        num += residual[k] * e * e;
        den += residual[k] * w * w;
      }
    }
    for (let t = 0; t < r; t++) {
      num += ye[t] * ye[t];
      den += yw[t] * yw[t];
    }
  }
  return den > 0 ? num / den : 0;
}
