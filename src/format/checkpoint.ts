import type { ModelConfig } from '../model/config';

/**
 * Random-access bytes: a local file (Node), a File/Blob (browser), or an http(s) URL read with
 * range requests. Everything that parses checkpoints goes through this, so the same parser runs
 * in the CLI and in the page.
 */
export interface ByteSource {
  /** Human-readable name used in error messages (a path or URL). */
  readonly name: string;
  size(): Promise<number>;
  /** Exactly `length` bytes at `offset`; throws FormatError if the source is shorter. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** Opens files relative to a checkpoint root (a directory, a folder the user chose, a URL prefix). */
export interface SourceDirectory {
  readonly name: string;
  /** null when the file does not exist. */
  open(relativePath: string): Promise<ByteSource | null>;
}

export interface TensorInfo {
  /** Canonical Hugging Face name (see tensorNames). */
  name: string;
  /** Row-major shape, outermost first, as in PyTorch: a Linear weight is [out, in]. */
  shape: number[];
  /** Storage type in the checkpoint, e.g. 'F32', 'F16', 'BF16', 'Q8_0', 'Q4_0'. */
  dtype: string;
}

export interface TokenizerFiles {
  /** tokenizer.json text that @huggingface/tokenizers loads. */
  tokenizerJson: string;
  /** tokenizer_config.json text (chat template, special tokens), or null. */
  tokenizerConfigJson: string | null;
}

export interface GenerationDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  maxNewTokens?: number;
}

/** A readable LLaMA-family checkpoint, whatever its file format. */
export interface Checkpoint {
  readonly source: string;
  readonly config: ModelConfig;
  readonly tokenizer: TokenizerFiles;
  readonly generation: GenerationDefaults;
  readonly tensors: TensorInfo[];
  /** The tensor as fp32, row-major; dequantized if stored quantized (Q8_0, Q4_0, ...). */
  readTensor(name: string): Promise<Float32Array>;
}
