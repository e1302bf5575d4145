import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { storageBuffer } from '../../src/gpu/buffers';
import { acquireDevice, type GpuContext } from '../../src/gpu/device';
import { gemv, x16BlocksTakeRows } from '../../src/kernels/gemv';
import type { GpuLinear } from '../../src/kernels/linear';
import { brokenKernelIsCaught } from '../kernels/broken';
import { kernelCases } from '../kernels/cases';

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await acquireDevice();
});
afterAll(() => gpu?.device.destroy());

describe('kernels against CPU references (Node, Dawn)', () => {
  for (const c of kernelCases) {
    test(c.name, (ctx) => {
      const why = c.unavailable?.(gpu);
      if (why) ctx.skip(why);
      return c.run(gpu);
    });
  }
});

describe('the rig catches broken kernels', () => {
  test('a kernel that leaves elements unwritten fails (poison)', async () => {
    expect(await brokenKernelIsCaught(gpu, 'skips_odd')).toMatch(/500\/1000 elements/);
  });
  test('a kernel with one wrong element fails', async () => {
    expect(await brokenKernelIsCaught(gpu, 'off_by_one')).toMatch(/1\/1000 elements/);
  });
});

describe('gemv refuses options its kernel cannot honour, naming them', () => {
  test('stagedActivationBits 8: only 2/4/16, and only where it stages its own row', async () => {
    const x = storageBuffer(gpu.device, 256);
    const y = storageBuffer(gpu.device, 64);
    const linear = (scheme: GpuLinear['scheme']): GpuLinear => ({
      scheme,
      N: 4,
      K: 64,
      groupSize: 64,
      pieces: [{ row0: 0, rows: 4, buffers: {} }],
    });
    const f32 = { kind: 'f32' as const, x, stride: 64 };
    await expect(gemv(gpu, linear('w4a16'), f32, y, { stagedActivationBits: 8 })).rejects.toThrow(
      /w4a16: stagedActivationBits 8: only 2\/4\/16 takes 8/,
    );
    await expect(
      gemv(gpu, linear('w2-4-16'), f32, y, { stagedActivationBits: 8, int16Activations: false }),
    ).rejects.toThrow(/stagedActivationBits 8 needs the 2\/4\/16 kernel staging its own row/);
    x.destroy();
    y.destroy();
  });

  test("schedule16: only 2/4/16's 16-bit kernels; token blocks only for rows the schedule takes", async () => {
    const x = storageBuffer(gpu.device, 256);
    const y = storageBuffer(gpu.device, 64);
    const linear = (scheme: GpuLinear['scheme'], K = 64): GpuLinear => ({
      scheme,
      N: 4,
      K,
      groupSize: 64,
      pieces: [{ row0: 0, rows: 4, buffers: {} }],
    });
    const f32 = { kind: 'f32' as const, x, stride: 64 };
    await expect(gemv(gpu, linear('w4a16'), f32, y, { schedule16: true })).rejects.toThrow(
      /w4a16: schedule16: only 2\/4\/16 kernels have a schedule/,
    );
    await expect(
      gemv(gpu, linear('w2-4-16'), f32, y, { schedule16: true, int16Activations: false }),
    ).rejects.toThrow(/schedule16 needs the 2\/4\/16 16-bit kernel/);
    // 257 groups: past the schedule's 256 (8 mask words; SCHED16's 8-bit group index).
    const x16 = { kind: 'x16' as const, q: x, sum: x, scale: x, stride: 16448, transposed: true };
    await expect(gemv(gpu, linear('w2-4-16', 16448), x16, y, {})).rejects.toThrow(
      /x16 token blocks take rows of at most 16384 features \(the schedule's limit\), got 16448/,
    );
    expect(x16BlocksTakeRows(gpu, 'w2-4-16', 16448)).toBe(false); // the model then prefills per token
    expect(x16BlocksTakeRows(gpu, 'w2-4-16', 16384)).toBe(true);
    x.destroy();
    y.destroy();
  });
});
