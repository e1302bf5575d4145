/** A mistake in the command line itself (exit code 2, as is the convention). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}
