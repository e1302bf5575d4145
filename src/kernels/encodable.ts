/** A prepared kernel: pipeline and bind groups made once, so recording a step is cheap. */
export interface Encodable {
  encode(pass: GPUComputePassEncoder): void;
  destroy(): void;
}
