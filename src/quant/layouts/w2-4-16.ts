import { f16BitsToF32 } from '../f16';
import type { Components, QuantGrid } from '../types';
import { checkShape, expectLength } from './common';

/**
 * `w2-4-16` layout, docs/FORMAT.md: groups of 64 columns, in every row exactly n4 groups are 4-bit
 * (the rest 2-bit), so every row has the same word count. Since pack version 2 a row stores its
 * 2-bit groups in K order, then its 4-bit groups in K order ("slot order", the order the kernels
 * walk them), so slot j's words start at an offset known without the mask: `4·j` for j < n2,
 * `4·n2 + 8·(j − n2)` after. Two-level scales (f32 per row × u8 code per group, in K order);
 * sparse f16 residuals in CSR per row. Version 1 stored the groups in K order
 * (`kOrderToSlotOrder` converts).
 */
export const W2_GROUP = 64;

/**
 * Number of 4-bit groups per row: round(nG / 4), halves rounded UP (Math.round). FORMAT.md says
 * only "round"; Python's round() would send nG = 2 or 10 the other way, so any other
 * implementation must use this function's rule (or read n4 from the mask).
 */
export function w2n4(nG: number): number {
  return Math.floor(nG / 4 + 0.5);
}

export function w2Geometry(K: number): {
  Kp: number;
  nG: number;
  n4: number;
  wordsPerRow: number;
  maskWords: number;
  codeWords: number;
} {
  const nG = Math.ceil(K / W2_GROUP);
  const n4 = w2n4(nG);
  return {
    Kp: nG * W2_GROUP,
    nG,
    n4,
    wordsPerRow: 4 * (nG - n4) + 8 * n4,
    maskWords: Math.ceil(nG / 32),
    codeWords: Math.ceil(nG / 4),
  };
}

/** First word of slot j in its row: the n2 2-bit slots take 4 words each, the 4-bit slots 8. */
export function w2SlotWord(j: number, n2: number): number {
  return j < n2 ? 4 * j : 4 * n2 + 8 * (j - n2);
}

/**
 * Reorders a version-1 `qweight` (every row's groups in K order, group g at word `4·(g + rank4(g))`)
 * into the slot order of version 2, in a new array. The mask says which groups are 4-bit; a row
 * whose count of them is not n4 is rejected (a corrupted mask would misplace every later group):
 * too many 4-bit groups run a 4-bit slot past nG, too few a 2-bit slot past n2, both caught
 * before the group's words are written.
 */
export function kOrderToSlotOrder(
  qweight: Uint32Array,
  mask: Uint32Array,
  N: number,
  K: number,
): Uint32Array {
  checkShape(N, K);
  const { nG, n4, wordsPerRow, maskWords } = w2Geometry(K);
  expectLength('qweight', qweight, N * wordsPerRow);
  expectLength('mask', mask, N * maskWords);
  const n2 = nG - n4;
  const out = new Uint32Array(qweight.length);
  for (let n = 0; n < N; n++) {
    const row = n * wordsPerRow;
    let src = row;
    let rank4 = 0;
    for (let g = 0; g < nG; g++) {
      const four = (mask[n * maskWords + (g >> 5)] >>> (g & 31)) & 1;
      const words = four ? 8 : 4;
      const slot = four ? n2 + rank4 : g - rank4;
      if (slot >= (four ? nG : n2))
        throw new Error(`w2-4-16: row ${n}'s mask does not have exactly ${n4} 4-bit groups`);
      out.set(qweight.subarray(src, src + words), row + w2SlotWord(slot, n2));
      src += words;
      rank4 += four;
    }
  }
  return out;
}

export function packW2416(grid: QuantGrid): Components {
  const { N, K, q, is4, rowScale, codes, outliers } = grid;
  checkShape(N, K);
  if (K > 65535) throw new Error(`w2-4-16: K=${K} does not fit the 16-bit outlier column index`);
  if (!is4 || !rowScale || !codes || !outliers)
    throw new Error('w2-4-16: grid lacks is4/rowScale/codes/outliers');
  const geo = w2Geometry(K);
  const { nG, n4, wordsPerRow, maskWords, codeWords } = geo;
  if (grid.groupSize !== W2_GROUP || grid.nGroups !== nG)
    throw new Error('w2-4-16: grid must use groups of 64');
  expectLength('q', q, N * K);
  expectLength('is4', is4, N * nG);
  expectLength('codes', codes, N * nG);
  expectLength('rowScale', rowScale, N);
  expectLength('outliers.rowPtr', outliers.rowPtr, N + 1);
  const mask = new Uint32Array(N * maskWords);
  const qweight = new Uint32Array(N * wordsPerRow);
  const scaleCodes = new Uint32Array(N * codeWords);
  const n2 = nG - n4;
  for (let n = 0; n < N; n++) {
    let count4 = 0;
    for (let g = 0; g < nG; g++) {
      const four = is4[n * nG + g] !== 0;
      const c = codes[n * nG + g];
      if (c < 1 || c > 255 || !Number.isInteger(c))
        throw new Error(`w2-4-16: scale code ${c} outside [1, 255]`);
      scaleCodes[n * codeWords + (g >> 2)] |= c << (8 * (g & 3));
      const k0 = g * W2_GROUP;
      const rowQ = n * K;
      // Slot order: the group's rank among the row's groups of its kind gives its offset (a row
      // with the wrong count of 4-bit groups is rejected below, before the words are used).
      let word = n * wordsPerRow + (four ? w2SlotWord(n2 + count4, n2) : w2SlotWord(g - count4, n2));
      if (four) {
        count4++;
        mask[n * maskWords + (g >> 5)] |= 1 << (g & 31);
        for (let w = 0; w < 8; w++) {
          let v = 0;
          for (let i = 0; i < 8; i++) {
            const k = k0 + 8 * w + i;
            if (k < K) v |= (q[rowQ + k] & 0xf) << (4 * i);
          }
          qweight[word++] = v >>> 0;
        }
      } else {
        for (let w = 0; w < 4; w++) {
          let v = 0;
          for (let i = 0; i < 16; i++) {
            const k = k0 + 16 * w + i;
            if (k < K) v |= (q[rowQ + k] & 0x3) << (2 * i);
          }
          qweight[word++] = v >>> 0;
        }
      }
    }
    if (count4 !== n4)
      throw new Error(`w2-4-16: row ${n} has ${count4} 4-bit groups, the layout needs exactly ${n4}`);
  }
  // Uint32Array stores wrap negative int32 results of the shifts above, so the words are exact.
  const nnz = outliers.rowPtr[N];
  expectLength('outliers.cols', outliers.cols, nnz);
  expectLength('outliers.residual', outliers.residual, nnz);
  const packed = new Uint32Array(nnz);
  for (let i = 0; i < nnz; i++) packed[i] = (outliers.cols[i] | (outliers.residual[i] << 16)) >>> 0;
  return {
    mask,
    qweight,
    rowScale: Float32Array.from(rowScale),
    scaleCodes,
    outlierRowPtr: Uint32Array.from(outliers.rowPtr),
    outliers: packed,
  };
}

export function unpackW2416(c: Components, N: number, K: number): QuantGrid {
  checkShape(N, K);
  const { mask, qweight, rowScale, scaleCodes, outlierRowPtr, outliers } = c;
  if (
    !(mask instanceof Uint32Array) ||
    !(qweight instanceof Uint32Array) ||
    !(rowScale instanceof Float32Array) ||
    !(scaleCodes instanceof Uint32Array) ||
    !(outlierRowPtr instanceof Uint32Array) ||
    !(outliers instanceof Uint32Array)
  ) {
    throw new Error('w2-4-16: component types do not match docs/FORMAT.md');
  }
  const { nG, n4, wordsPerRow, maskWords, codeWords } = w2Geometry(K);
  const n2 = nG - n4;
  expectLength('mask', mask, N * maskWords);
  expectLength('qweight', qweight, N * wordsPerRow);
  expectLength('rowScale', rowScale, N);
  expectLength('scaleCodes', scaleCodes, N * codeWords);
  expectLength('outlierRowPtr', outlierRowPtr, N + 1);
  expectLength('outliers', outliers, outlierRowPtr[N]);
  const q = new Int8Array(N * K);
  const is4 = new Uint8Array(N * nG);
  const codes = new Uint8Array(N * nG);
  const scale = new Float32Array(N * nG);
  const bias = new Float32Array(N * nG);
  for (let n = 0; n < N; n++) {
    let rank4 = 0;
    for (let g = 0; g < nG; g++) {
      const four = (mask[n * maskWords + (g >> 5)] >>> (g & 31)) & 1;
      const c8 = (scaleCodes[n * codeWords + (g >> 2)] >>> (8 * (g & 3))) & 0xff;
      const gi = n * nG + g;
      is4[gi] = four;
      codes[gi] = c8;
      const s = Math.fround(rowScale[n] * c8);
      scale[gi] = s;
      bias[gi] = (four ? -7.5 : -1.5) * s;
      // The FORMAT.md slot offsets: a 2-bit group is slot g − rank4, a 4-bit one slot n2 + rank4.
      const start = n * wordsPerRow + w2SlotWord(four ? n2 + rank4 : g - rank4, n2);
      for (let j = 0; j < W2_GROUP; j++) {
        const k = g * W2_GROUP + j;
        if (k >= K) break;
        q[n * K + k] = four
          ? (qweight[start + (j >> 3)] >>> (4 * (j & 7))) & 0xf
          : (qweight[start + (j >> 4)] >>> (2 * (j & 15))) & 0x3;
      }
      rank4 += four;
    }
  }
  const nnz = outlierRowPtr[N];
  const cols = new Uint16Array(nnz);
  const residual = new Uint16Array(nnz);
  for (let i = 0; i < nnz; i++) {
    cols[i] = outliers[i] & 0xffff;
    residual[i] = outliers[i] >>> 16;
  }
  return {
    scheme: 'w2-4-16',
    N,
    K,
    groupSize: W2_GROUP,
    nGroups: nG,
    q,
    scale,
    bias,
    is4,
    rowScale: Float32Array.from(rowScale),
    codes,
    outliers: { rowPtr: Uint32Array.from(outlierRowPtr), cols, residual },
  };
}

/** f32 value of outlier residual i (helper for the CPU reference). */
export function outlierResidual(o: { residual: Uint16Array }, i: number): number {
  return f16BitsToF32(o.residual[i]);
}
