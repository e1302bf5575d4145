/**
 * KV-cache reuse between requests. A chat client sends the whole conversation every time; the
 * cache still holds the tokens of the previous request (its prompt and all but the last generated
 * token). Whatever prefix the new prompt shares with them need not be computed again: rewind the
 * cache to the common prefix and prefill only the rest. Token ids are compared (not text), so a
 * reply that re-tokenizes differently simply shares a shorter prefix.
 */

/** Length of the longest common prefix of two id sequences. */
export function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export interface PrefillPlan {
  /** Tokens of the cache to keep (rewind to this position). */
  keep: number;
  /** Tokens to prefill after them. */
  tokens: number[];
}

/**
 * What to keep and what to run for `prompt` when the cache holds `held`. At least one token is
 * always prefilled: the logits of the prompt's last position pick the first new token, and the
 * cache keeps no logits. So a prompt equal to (or a prefix of) what is held re-runs its last token.
 */
export function planPrefill(held: readonly number[], prompt: readonly number[]): PrefillPlan {
  if (prompt.length === 0) throw new Error('planPrefill: empty prompt');
  const keep = Math.min(commonPrefixLength(held, prompt), prompt.length - 1);
  return { keep, tokens: prompt.slice(keep) };
}
