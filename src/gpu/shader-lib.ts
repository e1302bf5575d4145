import gemvCommon from '../../shaders/lib/gemv_common.wgsl?raw';
import invocation from '../../shaders/lib/invocation.wgsl?raw';
import kvInt8 from '../../shaders/lib/kv_int8.wgsl?raw';
import nibbles from '../../shaders/lib/nibbles.wgsl?raw';
import prefillAttentionIo from '../../shaders/lib/prefill_attention_io.wgsl?raw';
import ropeRotate from '../../shaders/lib/rope_rotate.wgsl?raw';
import rowSum from '../../shaders/lib/row_sum.wgsl?raw';
import sint4 from '../../shaders/lib/sint4.wgsl?raw';
import stageI8Tile from '../../shaders/lib/stage_i8_tile.wgsl?raw';
import stageRow from '../../shaders/lib/stage_row.wgsl?raw';
import stageX16 from '../../shaders/lib/stage_x16.wgsl?raw';
import w2Slots from '../../shaders/lib/w2_slots.wgsl?raw';
import wgReduce from '../../shaders/lib/wg_reduce.wgsl?raw';
import x16Pack from '../../shaders/lib/x16_pack.wgsl?raw';

/** WGSL snippets that kernels pull in with `#include "name"` (shaders/lib/). */
export const shaderLib: Readonly<Record<string, string>> = {
  row_sum: rowSum,
  nibbles,
  sint4,
  gemv_common: gemvCommon,
  invocation,
  kv_int8: kvInt8,
  prefill_attention_io: prefillAttentionIo,
  wg_reduce: wgReduce,
  rope_rotate: ropeRotate,
  stage_i8_tile: stageI8Tile,
  stage_row: stageRow,
  stage_x16: stageX16,
  x16_pack: x16Pack,
  w2_slots: w2Slots,
};
