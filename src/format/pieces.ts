import type { Components, Scheme } from '../quant/types';

/**
 * Splitting a tensor's components along rows, for tensors larger than the device's
 * maxStorageBufferBindingSize (128 MiB in many browsers): each piece is a self-contained set of
 * components for rows [r0, r1), so a kernel binds it like a whole tensor with fewer rows.
 * Every component is row-major with a fixed size per row, except the w2-4-16 outliers (CSR):
 * the piece's row pointers are rebased to its own slice of the outlier array.
 */
export function sliceRows(scheme: Scheme, c: Components, N: number, r0: number, r1: number): Components {
  if (!(0 <= r0 && r0 < r1 && r1 <= N)) throw new Error(`sliceRows: bad row range [${r0}, ${r1}) of ${N}`);
  const out: Components = {};
  for (const [name, arr] of Object.entries(c)) {
    if (scheme === 'w2-4-16' && (name === 'outlierRowPtr' || name === 'outliers')) continue;
    if (arr.length % N !== 0)
      throw new Error(`sliceRows: component ${name} (${arr.length}) is not ${N} rows`);
    const perRow = arr.length / N;
    out[name] = arr.slice(r0 * perRow, r1 * perRow);
  }
  if (scheme === 'w2-4-16') {
    const ptr = c.outlierRowPtr as Uint32Array;
    const start = ptr[r0];
    out.outlierRowPtr = ptr.slice(r0, r1 + 1).map((p) => p - start);
    out.outliers = (c.outliers as Uint32Array).slice(start, ptr[r1]);
  }
  return out;
}

/** Bytes per row of all components (outliers counted at their actual size, spread evenly). */
export function rowBytes(c: Components, N: number): number {
  let bytes = 0;
  for (const arr of Object.values(c)) bytes += arr.byteLength;
  return bytes / N;
}

/**
 * Row ranges such that no component of a piece exceeds `maxBytes` (with the CSR outliers, a
 * piece is cut early when its share of outliers would be too large).
 */
export function planPieces(c: Components, N: number, maxBytes: number): [number, number][] {
  let maxPerRow = 0;
  for (const arr of Object.values(c)) maxPerRow = Math.max(maxPerRow, arr.byteLength / N);
  const rows = Math.max(1, Math.floor(maxBytes / Math.max(maxPerRow, 1)));
  const ranges: [number, number][] = [];
  const ptr = c.outlierRowPtr as Uint32Array | undefined;
  let r0 = 0;
  while (r0 < N) {
    let r1 = Math.min(N, r0 + rows);
    if (ptr) while (r1 > r0 + 1 && (ptr[r1] - ptr[r0]) * 4 > maxBytes) r1--;
    ranges.push([r0, r1]);
    r0 = r1;
  }
  return ranges;
}
