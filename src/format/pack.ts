import type { ModelConfig } from '../model/config';
import type { Method, Scheme } from '../quant/types';
import type { GenerationDefaults } from './checkpoint';

/**
 * The pagelm pack manifest (docs/FORMAT.md). A pack is a directory (or URL prefix, or an
 * IndexedDB record set) holding `manifest.json`, the tokenizer files, and binary shards. Every
 * tensor component is a 256-byte aligned byte range inside one shard, in exactly the layout the
 * kernels read; loading is a copy into GPU buffers.
 */
export const PACK_FORMAT = 'pagelm-pack';
/**
 * The version this pagelm writes. 2: w2-4-16 rows hold their groups in slot order (2-bit groups,
 * then 4-bit ones); version-1 packs are still read (the reader reorders their w2-4-16 words).
 */
export const PACK_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
/** Component alignment inside a shard. */
export const COMPONENT_ALIGN = 256;
/** Shards close once they pass this size (a single larger component gets a shard of its own). */
export const SHARD_TARGET_BYTES = 32 * 1024 * 1024;
/** Row pieces keep every component at or below this, the smallest maxStorageBufferBindingSize browsers ship. */
export const PIECE_MAX_BYTES = 128 * 1024 * 1024;

export interface ByteRange {
  /** Index into manifest.shards. */
  shard: number;
  offset: number;
  bytes: number;
}

export interface ComponentRef extends ByteRange {
  /** Element type of the typed array the bytes hold. */
  dtype: 'u32' | 'f32';
}

export interface TensorPiece {
  /** Rows [r0, r1) of the tensor. */
  rows: [number, number];
  components: Record<string, ComponentRef>;
}

export interface PackTensor {
  /**
   * Canonical name. Linear weights that kernels read fused are stored fused:
   * `model.layers.N.self_attn.qkv_proj.weight` (rows: q, then k, then v) and
   * `model.layers.N.mlp.gate_up_proj.weight` (rows interleaved: gate 0, up 0, gate 1, up 1, …).
   */
  name: string;
  /** [N, K] for linear weights, [K] for norm weights. */
  shape: number[];
  scheme: Scheme;
  /** Columns per scale group where the scheme has groups (w4a8: K means per channel). */
  groupSize?: number;
  pieces: TensorPiece[];
}

export interface ShardInfo {
  file: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the shard file. */
  sha256: string;
}

export interface PackFile {
  file: string;
  bytes: number;
  sha256: string;
}

export interface PackManifest {
  format: typeof PACK_FORMAT;
  /** 1 or 2 when read (older versions are converted on read); PACK_VERSION when written. */
  version: number;
  /** Human-readable model name (from the source directory or file name). */
  name: string;
  config: ModelConfig;
  /** The scheme of the linear weights (norms are always f32). */
  scheme: Scheme;
  method: Method | 'none';
  /** w4a8: activations are quantized per token at run time; SmoothQuant factors are folded into the norms. */
  smoothQuant?: { alpha: number };
  generation: GenerationDefaults;
  tokenizer: { json: PackFile; config: PackFile | null };
  /** Chat template from tokenizer_config.json, if any (also inside tokenizer.config). */
  chatTemplate: string | null;
  tensors: PackTensor[];
  shards: ShardInfo[];
  /** Provenance: source checkpoint, converter version, date, calibration text hash, bits/weight. */
  provenance: {
    source: string;
    converter: string;
    created: string;
    calibration?: { tokens: number; sha256: string };
    bitsPerWeight: number;
    totalBytes: number;
  };
}

/** Canonical names of the fused tensors. */
export const fusedNames = {
  qkv: (i: number) => `model.layers.${i}.self_attn.qkv_proj.weight`,
  gateUp: (i: number) => `model.layers.${i}.mlp.gate_up_proj.weight`,
};
