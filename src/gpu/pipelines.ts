import { ShaderCompileError } from './errors';
import { type Flags, preprocess, type ShaderSource } from './shader';

/** Everything that determines a compute pipeline. */
export interface PipelineSpec {
  shader: ShaderSource;
  entryPoint: string;
  flags?: Flags;
  /** WGSL `override` constants. */
  constants?: Readonly<Record<string, number>>;
}

function canonical(rec: Readonly<Record<string, number | boolean>> | undefined): string {
  if (!rec) return '';
  return Object.keys(rec)
    .sort()
    .map((k) => `${k}=${Number(rec[k])}`)
    .join(',');
}

/** The cache key: shader name, entry point, then flags and constants in sorted order. */
export function pipelineKey(spec: PipelineSpec): string {
  return `${spec.shader.name}#${spec.entryPoint}|${canonical(spec.flags)}|${canonical(spec.constants)}`;
}

/**
 * Compiles each distinct specialization once per device. Compilation errors become a
 * ShaderCompileError carrying the compiler's messages with line numbers of the .wgsl file.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly modules = new Map<string, GPUShaderModule>();

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const key = pipelineKey(spec);
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.create(spec, key);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key)); // a failed compile is not cached
    }
    return p;
  }

  private async create(spec: PipelineSpec, key: string): Promise<GPUComputePipeline> {
    const moduleKey = `${spec.shader.name}|${canonical(spec.flags)}`;
    let module = this.modules.get(moduleKey);
    if (!module) {
      const code = preprocess(spec.shader, spec.flags ?? {});
      module = this.device.createShaderModule({ label: spec.shader.name, code });
      const info = await module.getCompilationInfo();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length) {
        throw new ShaderCompileError(
          `${spec.shader.name}.wgsl failed to compile (${key}):\n` +
            errors.map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`).join('\n'),
        );
      }
      this.modules.set(moduleKey, module);
    }
    try {
      return await this.device.createComputePipelineAsync({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint: spec.entryPoint, constants: spec.constants as Record<string, number> },
      });
    } catch (e) {
      throw new ShaderCompileError(`pipeline ${key}: ${(e as Error).message}`);
    }
  }
}
