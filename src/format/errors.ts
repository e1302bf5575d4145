/**
 * A checkpoint or pack that cannot be read. The message always names the file (and the tensor
 * when there is one) and says what is wrong, so the CLI can print it as-is and exit non-zero.
 */
export class FormatError extends Error {
  override readonly name = 'FormatError';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor ? ` (tensor ${tensor})` : ''}: ${reason}`);
  }
}
