/** A prepared kernel: pipeline and bind groups made once, so recording a step is cheap. */
export interface Encodable {
  /** Records the kernel for `tokens` tokens (default 1; kernels without a token axis ignore it). */
  encode(pass: GPUComputePassEncoder, tokens?: number): void;
  destroy(): void;
}
