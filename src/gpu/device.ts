import { LimitTooSmallError, MissingFeatureError, WebGPUUnavailableError } from './errors';
import { PipelineCache } from './pipelines';

/**
 * One way to get a GPUDevice, in the browser (navigator.gpu) and in Node (Dawn, npm `webgpu`).
 * Requests the limits the runtime needs (as large as the adapter allows) and the optional
 * features it can use, and describes what it got in a Capabilities object.
 */

export interface Capabilities {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  /** 'browser' or 'node-dawn'. */
  runtime: 'browser' | 'node-dawn';
  features: {
    subgroups: boolean;
    shaderF16: boolean;
    timestampQuery: boolean;
    subgroupMatrix: boolean;
  };
  subgroupMinSize: number;
  subgroupMaxSize: number;
  /**
   * The matrix shapes and types the subgroup-matrix feature offers (adapter.info; empty without
   * it), e.g. { componentType: 'i8', resultComponentType: 'i32', M: 16, N: 16, K: 32 }.
   */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /**
   * A CPU implementation (lavapipe/llvmpipe, SwiftShader): kernels there gain nothing from many
   * loads in flight and pay for unrolled code in compile time, so tuning defaults differ.
   */
  software: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
  /** WGSL language extensions the implementation reports (e.g. packed_4x8_integer_dot_product). */
  wgslLanguageFeatures: string[];
}

export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuContext {
  device: GPUDevice;
  caps: Capabilities;
  /** Compiled pipelines for this device, by specialization. */
  pipelines: PipelineCache;
  /** Resolves when the device is lost (never rejects). */
  lost: Promise<GPUDeviceLostInfo>;
}

export interface AcquireOptions {
  /** Use this GPU object instead of navigator.gpu / Dawn (tests, embedding). */
  gpu?: GPU;
  /** Dawn instance toggles in Node, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
  dawnToggles?: string[];
  /** Fail unless these optional features are present. */
  requireFeatures?: GPUFeatureName[];
  /** Minimum limits the caller needs (e.g. the largest tensor piece it will bind). */
  minLimits?: Partial<Record<'maxStorageBufferBindingSize' | 'maxBufferSize', number>>;
  powerPreference?: GPUPowerPreference;
}

/** Optional features pagelm uses when present, never requires. */
const WANTED_FEATURES = [
  'subgroups',
  'shader-f16',
  'timestamp-query',
  'chromium-experimental-subgroup-matrix',
] as const;

/** Limits requested at the adapter's maximum. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

// dawn.node pitfall (see ../shared/gpu/README.md): the object returned by create() must stay
// reachable for as long as any adapter or device lives, or the process dies at random.
const dawnInstances: GPU[] = [];

function isNode(): boolean {
  return typeof process !== 'undefined' && typeof process.versions?.node === 'string';
}

async function dawnGpu(toggles: string[]): Promise<GPU> {
  // The specifier is hidden from bundlers: the browser build must never try to include Dawn.
  const specifier = 'webgpu';
  let mod: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    mod = await import(/* @vite-ignore */ specifier);
  } catch (e) {
    throw new WebGPUUnavailableError(
      `WebGPU is not available in this Node process: the 'webgpu' package (Dawn) could not be loaded ` +
        `(${(e as Error).message}). Install it with 'npm install webgpu'.`,
    );
  }
  Object.assign(globalThis, mod.globals); // GPUBufferUsage, GPUMapMode, ... as in a browser
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const gpu = mod.create(toggles);
  dawnInstances.push(gpu);
  return gpu;
}

async function findGpu(opts: AcquireOptions): Promise<{ gpu: GPU; runtime: Capabilities['runtime'] }> {
  if (opts.gpu) return { gpu: opts.gpu, runtime: isNode() ? 'node-dawn' : 'browser' };
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, runtime: 'browser' };
  if (isNode()) return { gpu: await dawnGpu(opts.dawnToggles ?? []), runtime: 'node-dawn' };
  const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
  throw new WebGPUUnavailableError(
    secure === false
      ? 'WebGPU needs a secure context: open this page over https:// or from localhost.'
      : 'This browser does not offer WebGPU (navigator.gpu is missing). Use a current Chrome or Edge ' +
          '(113+), Safari 26+, or Firefox 141+ on Windows; on Linux, Chrome needs ' +
          'chrome://flags/#enable-unsafe-webgpu and a Vulkan driver.',
  );
}

export async function acquireDevice(opts: AcquireOptions = {}): Promise<GpuContext> {
  const { gpu, runtime } = await findGpu(opts);
  const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is present but no GPU adapter was found: the GPU may be blocklisted or its driver too old. ' +
        'Update the graphics driver, or in Chrome check chrome://gpu (and chrome://flags/#enable-unsafe-webgpu on Linux).',
    );
  }
  for (const f of opts.requireFeatures ?? []) {
    if (!adapter.features.has(f)) {
      throw new MissingFeatureError(
        f,
        `This GPU adapter lacks the WebGPU feature '${f}', which is required here.`,
      );
    }
  }
  for (const [name, needed] of Object.entries(opts.minLimits ?? {})) {
    const available = adapter.limits[name as keyof GPUSupportedLimits] as number;
    if (needed !== undefined && available < needed) throw new LimitTooSmallError(name, needed, available);
  }

  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  for (const l of WANTED_LIMITS) requiredLimits[l] = adapter.limits[l] as number;
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });

  const info = adapter.info;
  const languageFeatures = (gpu as { wgslLanguageFeatures?: Iterable<string> }).wgslLanguageFeatures;
  const caps: Capabilities = {
    adapter: {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
    },
    runtime,
    features: {
      subgroups: device.features.has('subgroups'),
      shaderF16: device.features.has('shader-f16'),
      timestampQuery: device.features.has('timestamp-query'),
      subgroupMatrix: device.features.has('chromium-experimental-subgroup-matrix'),
    },
    subgroupMinSize: (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0,
    subgroupMaxSize: (info as { subgroupMaxSize?: number }).subgroupMaxSize ?? 0,
    // The config objects expose getters (JSON.stringify shows {}): copy the fields.
    subgroupMatrixConfigs: device.features.has('chromium-experimental-subgroup-matrix')
      ? [...((info as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] }).subgroupMatrixConfigs ?? [])].map(
          (c) => ({
            componentType: c.componentType,
            resultComponentType: c.resultComponentType,
            M: c.M,
            N: c.N,
            K: c.K,
          }),
        )
      : [],
    software: /llvmpipe|lavapipe|swiftshader|software/i.test(
      `${info.vendor} ${info.architecture} ${info.device} ${info.description}`,
    ),
    limits: {
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxBufferSize: device.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
    },
    wgslLanguageFeatures: languageFeatures ? [...languageFeatures].sort() : [],
  };
  return { device, caps, pipelines: new PipelineCache(device), lost: device.lost };
}
