/** Encoding helpers: bind buffers in binding order and dispatch, inside a compute pass. */

export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export function bindGroup(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  bindings: Binding[],
  group = 0,
): GPUBindGroup {
  return device.createBindGroup({
    layout: pipeline.getBindGroupLayout(group),
    entries: bindings.map((b, binding) => ({
      binding,
      resource: 'buffer' in b ? b : { buffer: b },
    })),
  });
}

export function dispatch(
  pass: GPUComputePassEncoder,
  pipeline: GPUComputePipeline,
  group: GPUBindGroup,
  x: number,
  y = 1,
  z = 1,
): void {
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  pass.dispatchWorkgroups(x, y, z);
}
