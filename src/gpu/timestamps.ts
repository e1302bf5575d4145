/**
 * GPU timing with timestamp queries: `pairs` begin/end pairs, each bracketing one compute pass.
 * Needs the 'timestamp-query' feature (in Node, create Dawn with
 * 'disable-dawn-features=timestamp_quantization' or the values are rounded).
 */
export class TimestampQueries {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private readonly readBuffer: GPUBuffer;

  constructor(
    device: GPUDevice,
    readonly pairs: number,
  ) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * pairs });
    this.resolveBuffer = device.createBuffer({
      size: 16 * pairs,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    this.readBuffer = device.createBuffer({
      size: 16 * pairs,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
  }

  /** The timestampWrites of a pass measured as pair `i`. */
  pass(i: number): GPUComputePassTimestampWrites {
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the copy of every timestamp to the readback buffer (after the measured passes). */
  resolve(enc: GPUCommandEncoder): void {
    enc.resolveQuerySet(this.querySet, 0, 2 * this.pairs, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, this.readBuffer, 0, 16 * this.pairs);
  }

  /** Seconds of each pair, once the submit holding resolve() has run. */
  async seconds(): Promise<number[]> {
    return (await this.spans()).map(([begin, end]) => end - begin);
  }

  /**
   * Begin and end of each pair in seconds from the first pair's begin (one GPU clock for every
   * pass of the device), once the submit holding resolve() has run.
   */
  async spans(): Promise<[number, number][]> {
    await this.readBuffer.mapAsync(GPUMapMode.READ);
    const t = new BigUint64Array(this.readBuffer.getMappedRange().slice(0));
    this.readBuffer.unmap();
    return Array.from({ length: this.pairs }, (_, i) => [
      Number(t[2 * i] - t[0]) / 1e9,
      Number(t[2 * i + 1] - t[0]) / 1e9,
    ]);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
    this.readBuffer.destroy();
  }
}
