import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { acquireDevice, type GpuContext } from '../../src/gpu/device';
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
