/**
 * Conversations kept in IndexedDB (idb-keyval, database "pagelm-chat", store "conversations"),
 * one record per conversation keyed by its id, so they survive reloads and work offline.
 */
import { createStore, del, get, set, values } from 'idb-keyval';

export interface ReplyStats {
  promptTokens: number;
  completionTokens: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  seconds: number;
  finish: string;
}

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
  stats?: ReplyStats;
  /** True when the reply was stopped before it finished. */
  stopped?: boolean;
}

export interface Conversation {
  id: string;
  title: string;
  created: number;
  updated: number;
  messages: ChatMessage[];
}

export const CHAT_DB = 'pagelm-chat';
export const CHAT_STORE = 'conversations';
const store = createStore(CHAT_DB, CHAT_STORE);

export async function listConversations(): Promise<Conversation[]> {
  const all = (await values<Conversation>(store)).filter((c) => c && Array.isArray(c.messages));
  return all.sort((a, b) => b.updated - a.updated);
}

export function getConversation(id: string): Promise<Conversation | undefined> {
  return get<Conversation>(id, store);
}

export function saveConversation(c: Conversation): Promise<void> {
  return set(c.id, c, store);
}

export function deleteConversation(id: string): Promise<void> {
  return del(id, store);
}

export function newConversation(): Conversation {
  const now = Date.now();
  return {
    id: `c-${now.toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    title: 'New chat',
    created: now,
    updated: now,
    messages: [],
  };
}
