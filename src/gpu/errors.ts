/**
 * Typed GPU errors. Each message says what is missing and what the user can do about it; the
 * chat page and the CLI show them as-is.
 */
export class WebGPUUnavailableError extends Error {
  override readonly name = 'WebGPUUnavailableError';
}

export class MissingFeatureError extends Error {
  override readonly name = 'MissingFeatureError';
  constructor(
    readonly feature: string,
    message: string,
  ) {
    super(message);
  }
}

export class LimitTooSmallError extends Error {
  override readonly name = 'LimitTooSmallError';
  constructor(
    readonly limit: string,
    readonly needed: number,
    readonly available: number,
  ) {
    super(
      `This GPU allows ${limit} = ${available}, but pagelm needs at least ${needed}. ` +
        'Try a smaller model, another browser, or an up-to-date graphics driver.',
    );
  }
}

export class ShaderCompileError extends Error {
  override readonly name = 'ShaderCompileError';
}
