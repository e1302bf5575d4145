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

/**
 * A fixed run of dispatches (pipeline, bind group 0, workgroup counts), captured once from
 * encode() calls and replayed into later passes in a tight loop: no closures, arrays or
 * descriptor objects per step, and setPipeline / setBindGroup only where they change (each call
 * into Dawn costs about as much as the dispatch itself). Only for kernels whose recording does not
 * depend on the step (no position-dependent counts, no side effects in encode()).
 */
export class DispatchList {
  private readonly pipelines: GPUComputePipeline[] = [];
  private readonly groups: GPUBindGroup[] = [];
  /** x, y, z per dispatch. */
  private readonly counts: number[] = [];

  /** Runs `record` on a stand-in pass and keeps what it dispatches. */
  static capture(record: (pass: GPUComputePassEncoder) => void): DispatchList {
    const list = new DispatchList();
    let pipeline: GPUComputePipeline | null = null;
    let group: GPUBindGroup | null = null;
    const stand = {
      setPipeline(p: GPUComputePipeline) {
        pipeline = p;
      },
      setBindGroup(index: number, g: GPUBindGroup | null, offsets?: Iterable<number>) {
        if (index !== 0 || !g || (offsets && [...offsets].length))
          throw new Error('DispatchList: only bind group 0 without dynamic offsets is replayed');
        group = g;
      },
      dispatchWorkgroups(x: number, y = 1, z = 1) {
        if (!pipeline || !group) throw new Error('DispatchList: dispatch before setPipeline/setBindGroup');
        list.pipelines.push(pipeline);
        list.groups.push(group);
        list.counts.push(x, y, z);
      },
    } as unknown as GPUComputePassEncoder;
    record(stand);
    return list;
  }

  get length(): number {
    return this.pipelines.length;
  }

  /** Records the dispatches into `pass`; the pass's pipeline and bind group are then unknown. */
  replay(pass: GPUComputePassEncoder): void {
    const { pipelines, groups, counts } = this;
    let pipeline: GPUComputePipeline | null = null;
    let group: GPUBindGroup | null = null;
    for (let i = 0, c = 0; i < pipelines.length; i++, c += 3) {
      if (pipelines[i] !== pipeline) {
        pipeline = pipelines[i];
        pass.setPipeline(pipeline);
        // A new pipeline's layout may differ: rebind even an unchanged group.
        group = null;
      }
      if (groups[i] !== group) {
        group = groups[i];
        pass.setBindGroup(0, group);
      }
      pass.dispatchWorkgroups(counts[c], counts[c + 1], counts[c + 2]);
    }
  }
}
