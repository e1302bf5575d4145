/** Small buffer helpers shared by kernels, tests and benchmarks. */

export const STORAGE = 0x80 | 0x08 | 0x04; // STORAGE | COPY_DST | COPY_SRC (GPUBufferUsage values)

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** A storage buffer holding `data` (size rounded up to 4 bytes, as WebGPU requires). */
export function uploadBuffer(device: GPUDevice, data: ArrayBufferView, label?: string): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size: Math.max(4, roundUp(data.byteLength, 4)),
    usage: STORAGE,
    mappedAtCreation: true,
  });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

export function storageBuffer(device: GPUDevice, size: number, label?: string): GPUBuffer {
  return device.createBuffer({ label, size: Math.max(4, roundUp(size, 4)), usage: STORAGE });
}

/** The bits of `v` as an f32, for an f32 field of a uniform written as u32 words. */
export function f32Bits(v: number): number {
  return new Uint32Array(new Float32Array([v]).buffer)[0];
}

export function uniformBuffer(
  device: GPUDevice,
  words: Uint32Array<ArrayBuffer> | Float32Array<ArrayBuffer>,
  label?: string,
): GPUBuffer {
  const buffer = device.createBuffer({
    label,
    size: Math.max(16, roundUp(words.byteLength, 16)),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, words);
  return buffer;
}

/**
 * Fills a buffer with 0xFFFFFFFF: NaN as f32, -1 as i32. Tests poison outputs before a kernel runs
 * so an element the kernel never writes cannot pass by accident.
 */
export function poison(device: GPUDevice, buffer: GPUBuffer, size = buffer.size): void {
  device.queue.writeBuffer(buffer, 0, new Uint32Array(size / 4).fill(0xffffffff));
}

/** Copies `size` bytes of a storage buffer back to the CPU. */
export async function readBuffer(
  device: GPUDevice,
  buffer: GPUBuffer,
  size = buffer.size,
  offset = 0,
): Promise<ArrayBuffer> {
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0);
  staging.unmap();
  staging.destroy();
  return copy;
}

export async function readF32(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Float32Array> {
  return new Float32Array(await readBuffer(device, buffer, roundUp(count * 4, 4)), 0, count);
}

export async function readU32(device: GPUDevice, buffer: GPUBuffer, count: number): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(device, buffer, roundUp(count * 4, 4)), 0, count);
}
