// The bindings of the prefill attention kernels (attention_prefill.wgsl and
// attention_prefill_subgroup.wgsl): the same bind group, built by attentionKernel in
// src/kernels/attention.ts. Params keeps the split kernels' layout (attention.wgsl) so one
// uniform layout serves every attention kernel.

struct Params {
  n_heads: u32,
  n_kv_heads: u32,
  q_stride: u32,     // per token, f32
  max_pos: u32,
  splits_max: u32,   // (the split kernels' field; unused here)
  out_stride: u32,   // per token, f32
  scale: f32,        // 1 / sqrt(head_dim)
  qkv_stride: u32,   // (unused here)
}

struct Step {
  pos0: u32,
  tokens: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> kwords: array<u32>;
@group(0) @binding(2) var<storage, read> vwords: array<u32>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
