/**
 * Messages → prompt token ids, and the context-window policy.
 *
 * With a chat template (tokenizer_config.json's, rendered by @huggingface/jinja in
 * TextTokenizer.applyChatTemplate) the ids are exactly what the model was trained on, with the
 * assistant header appended so the model answers next. Message contents are always text: a
 * "<|im_start|>" typed by a user is not a control token (see src/tokenizer/tokenizer.ts).
 *
 * Without a chat template (base / story models such as TinyStories) there is no right way to
 * mark turns, and inventing one would feed the model text it never saw. So the fallback is
 * plain text completion: the contents are joined in order with `plainSeparator` (default '', so
 * an assistant message continues the text before it, and the answer continues the whole) and
 * encoded like `pagelm run --prompt`, BOS included. Roles are ignored.
 */
import type { TextTokenizer } from '../tokenizer/tokenizer';
import { ContextWindowExceeded } from './errors';
import type { ChatCompletionMessageParam, ContextOverflowPolicy } from './types';

export interface PromptFormat {
  /** Joins message contents when the tokenizer has no chat template. */
  plainSeparator: string;
}

export function encodeMessages(
  tokenizer: TextTokenizer,
  messages: readonly ChatCompletionMessageParam[],
  format: PromptFormat,
): number[] {
  if (tokenizer.chatTemplate !== null) {
    return tokenizer.applyChatTemplate(
      messages.map((m) => ({ role: m.role, content: m.content })),
      { addGenerationPrompt: true },
    );
  }
  return tokenizer.encode(messages.map((m) => m.content).join(format.plainSeparator));
}

export interface FittedPrompt {
  ids: number[];
  /** Messages dropped to make room (0 unless the policy is 'truncate'). */
  dropped: number;
}

/**
 * Encodes `messages` so that the prompt plus `reserve` new tokens fit in `contextSize`. With
 * 'truncate', the oldest non-system message goes first, then the next, never the last message;
 * system messages stay because they set the assistant's behaviour for the whole chat.
 */
export function fitPrompt(
  encode: (messages: readonly ChatCompletionMessageParam[]) => number[],
  messages: readonly ChatCompletionMessageParam[],
  opts: { contextSize: number; reserve: number; policy: ContextOverflowPolicy },
): FittedPrompt {
  let kept = [...messages];
  let dropped = 0;
  for (;;) {
    const ids = encode(kept);
    if (ids.length + opts.reserve <= opts.contextSize) return { ids, dropped };
    const victim = kept.findIndex((m, i) => m.role !== 'system' && i < kept.length - 1);
    if (opts.policy !== 'truncate' || victim < 0) {
      throw new ContextWindowExceeded(ids.length, opts.reserve, opts.contextSize);
    }
    kept = kept.filter((_, i) => i !== victim);
    dropped++;
  }
}
