/**
 * A GpuSession plus the token ids its KV cache holds, so the next request can tell how much of
 * its prompt is already there (prefix.ts). The ids are mirrored on the CPU because the GPU
 * session only knows its position. After a step fails half-way nothing is trusted: the record
 * is cleared and the next request starts from an empty cache.
 */
import type { GpuSession } from '../model/gpu-model';
import type { SamplingParams } from '../model/sampling-reference';
import { planPrefill } from './prefix';

export class KvCache {
  private ids: number[] = [];

  constructor(readonly session: GpuSession) {}

  /** Tokens the cache can hold. */
  get capacity(): number {
    return this.session.maxContext;
  }

  /** The ids in the cache, in order (a copy). */
  get held(): number[] {
    return [...this.ids];
  }

  setSampling(params: SamplingParams, seed: number): void {
    this.session.setSampling(params, seed);
  }

  /**
   * Makes the cache hold `prompt`, computing only what it does not share with the cache already,
   * and returns the sampled next id with the counts of reused and computed tokens.
   */
  async prefill(prompt: number[]): Promise<{ next: number; reused: number; prefilled: number }> {
    const plan = planPrefill(this.ids, prompt);
    this.session.rewind(plan.keep);
    this.ids.length = plan.keep;
    const next = await this.guard(() => this.session.prefill(plan.tokens));
    this.ids.push(...plan.tokens);
    return { next, reused: plan.keep, prefilled: plan.tokens.length };
  }

  /**
   * Pipelined decoding (GpuSession.decodeStream: step k+1 is submitted before step k's id is
   * read): up to `maxSteps` steps, the first running `first` (the id the previous step sampled,
   * already on the GPU). `onToken` gets each new id and returns false to stop; the session then
   * undoes its one speculative step, so the cache holds exactly the ids that were run.
   */
  async decodeStream(
    first: number,
    maxSteps: number,
    onToken: (id: number) => boolean | Promise<boolean>,
  ): Promise<void> {
    let last = first;
    await this.guard(() =>
      this.session.decodeStream(maxSteps, (id) => {
        // The step that produced `id` ran `last`: it is in the cache now.
        this.ids.push(last);
        last = id;
        return onToken(id);
      }),
    );
  }

  clear(): void {
    this.session.reset();
    this.ids = [];
  }

  destroy(): void {
    this.ids = [];
    this.session.destroy();
  }

  private async guard<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (e) {
      this.clear();
      throw e;
    }
  }
}
