import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { convertCheckpoint } from '../../src/convert/convert';
import { openHfCheckpoint } from '../../src/format/hf-checkpoint';
import { SHARD_TARGET_BYTES } from '../../src/format/pack';
import { openPack } from '../../src/format/pack-reader';
import { directorySource } from '../../src/node/file-source';
import { PackDirSink } from '../../src/node/pack-dir';
import { TINYSTORIES } from './helpers';

/**
 * Bounded memory: a synthetic untied llama (vocab 32768 × hidden 2048, so embed_tokens and
 * lm_head are 256 MiB of f32 each, plus one small layer) is converted to w4a8 with RTN, and the
 * peak RSS of this process (VmHWM, reset just before) must stay under
 * 2 × largest tensor + one shard + a 300 MB baseline. The checkpoint is written in 4 MiB chunks
 * so that generating it does not itself raise the high-water mark.
 */
const MiB = 1024 * 1024;
const V = 32768;
const H = 2048;
const HEADS = 16;
const KV_HEADS = 2;
const HEAD_DIM = 128;
const I = 512;

const dir = mkdtempSync(join(tmpdir(), 'pagelm-mem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeSyntheticCheckpoint(): { largest: number; total: number } {
  const tensors: [string, number[]][] = [
    ['model.embed_tokens.weight', [V, H]],
    ['model.layers.0.input_layernorm.weight', [H]],
    ['model.layers.0.self_attn.q_proj.weight', [HEADS * HEAD_DIM, H]],
    ['model.layers.0.self_attn.k_proj.weight', [KV_HEADS * HEAD_DIM, H]],
    ['model.layers.0.self_attn.v_proj.weight', [KV_HEADS * HEAD_DIM, H]],
    ['model.layers.0.self_attn.o_proj.weight', [H, HEADS * HEAD_DIM]],
    ['model.layers.0.post_attention_layernorm.weight', [H]],
    ['model.layers.0.mlp.gate_proj.weight', [I, H]],
    ['model.layers.0.mlp.up_proj.weight', [I, H]],
    ['model.layers.0.mlp.down_proj.weight', [H, I]],
    ['model.norm.weight', [H]],
    ['lm_head.weight', [V, H]],
  ];
  const header: Record<string, unknown> = {};
  let offset = 0;
  let largest = 0;
  for (const [name, shape] of tensors) {
    const bytes = 4 * shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
    largest = Math.max(largest, bytes);
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeSync(fd, len);
  writeSync(fd, Buffer.from(json));
  // xorshift32 noise, ~N(0, 0.02)-sized, 4 MiB at a time.
  let x = 0x9e3779b9;
  const chunk = new Float32Array(MiB);
  for (let left = offset / 4; left > 0; left -= chunk.length) {
    const n = Math.min(left, chunk.length);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      chunk[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.07;
    }
    writeSync(fd, new Uint8Array(chunk.buffer, 0, 4 * n));
  }
  closeSync(fd);
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: H,
      intermediate_size: I,
      num_hidden_layers: 1,
      num_attention_heads: HEADS,
      num_key_value_heads: KV_HEADS,
      vocab_size: V,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: false,
    }),
  );
  copyFileSync(join(TINYSTORIES, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  copyFileSync(join(TINYSTORIES, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  return { largest, total: offset };
}

function procStatus(key: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${key} in /proc/self/status`);
  return Number(m[1]) * 1024;
}

it.runIf(existsSync('/proc/self/status'))(
  'w4a8 RTN of a checkpoint with two 256 MiB tensors stays within 2× largest tensor + shard + 300 MB',
  async () => {
    const { largest, total } = writeSyntheticCheckpoint();
    const ckpt = await openHfCheckpoint(directorySource(dir));
    const out = join(dir, 'pack');
    const sink = await PackDirSink.create(out);
    globalThis.gc?.();
    let reset = true;
    try {
      writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
    } catch {
      reset = false;
    }
    const before = procStatus('VmRSS');
    const summary = await convertCheckpoint(ckpt, sink, { scheme: 'w4a8', method: 'rtn' });
    const peak = procStatus('VmHWM');
    const budget = 2 * largest + SHARD_TARGET_BYTES + 300e6;
    const quantSeconds = summary.tensors.reduce((s, t) => s + t.seconds, 0);
    console.log(
      [
        `synthetic ${(total / MiB).toFixed(0)} MiB f32 checkpoint (largest tensor ${(largest / MiB).toFixed(0)} MiB) → w4a8 RTN pack ${(summary.totalBytes / MiB).toFixed(1)} MiB in ${summary.manifest.shards.length} shards`,
        `peak RSS ${(peak / MiB).toFixed(0)} MiB (RSS before ${(before / MiB).toFixed(0)} MiB, HWM reset: ${reset}), budget ${(budget / MiB).toFixed(0)} MiB`,
        `throughput ${(total / 1e6 / summary.seconds).toFixed(1)} MB/s of f32 input end to end (${summary.seconds.toFixed(1)} s: read, RTN, pack, SHA-256, write), ${(total / 1e6 / quantSeconds).toFixed(1)} MB/s in quantization alone`,
      ].join('\n'),
    );
    expect(peak).toBeLessThan(budget);
    const pack = await openPack(directorySource(out));
    expect(pack.manifest.tensors.map((t) => t.name)[0]).toBe('model.embed_tokens.weight');
    expect(summary.bitsPerWeight).toBeCloseTo(4 + 32 / H, 3);
  },
  300_000,
);
