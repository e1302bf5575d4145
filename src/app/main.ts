/**
 * The chat page (docs/app.md): checks WebGPU (runDoctor for the status line), gets a model into the
 * offline store (the default pack on first visit, or the model manager), loads it in the SDK's
 * worker engine and streams replies. Conversations live in IndexedDB (./chats.ts); model output is
 * sanitized markdown (./render.ts); a service worker (public/sw.js) keeps the page working offline.
 */
import { acquireDevice } from '../gpu/device';
import { runDoctor } from '../gpu/doctor';
import type { Method, Scheme } from '../quant/types';
import type { ChatCompletionChunk, Engine, ChatCompletionMessageParam as SdkMessage } from '../sdk/types';
import { createWorkerEngine } from '../sdk/worker-engine';
import { defaultModelStore, type StoredModelInfo, type StoreProgress } from '../store/index';
import {
  type ChatMessage,
  type Conversation,
  deleteConversation,
  getConversation,
  listConversations,
  newConversation,
  saveConversation,
} from './chats';
import type { ConvertReply, ConvertRequest } from './convert-worker';
import { setMarkdown } from './render';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
/** The default pack: `npm start` converts it into public/models/; `?pack=URL` points elsewhere. */
const DEFAULT_PACK = params.get('pack') ?? '/models/tinystories-656k-w4a8/';
const SETTINGS_KEY = 'pagelm.settings';
const MODEL_KEY = 'pagelm.model';

interface Settings {
  system: string;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number | null;
}
const DEFAULT_SETTINGS: Settings = { system: '', temperature: 0.7, topP: 0.95, maxTokens: 200, seed: null };

const store = defaultModelStore();
let engine: Engine | null = null;
let modelReady = false;
let loadedModel: StoredModelInfo | null = null;
let gpuSummary = '';
let current: Conversation = newConversation();
let generating: AbortController | null = null;
/** Replies finished (or stopped) since the page loaded; tests wait on it. */
let finished = 0;

// ---------- helpers ----------
function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
function setStatus(text: string): void {
  $('status').textContent = text;
}
function kernelPath(scheme: string): string {
  const [dot4, , f16] = [gpuSummary.includes('dot4 ok'), 0, gpuSummary.includes('f16 yes')];
  const path =
    scheme === 'w4a8'
      ? dot4
        ? 'W4A8 dot4'
        : 'W4A8 (no dot4 on this GPU)'
      : scheme === 'w2-4-16'
        ? 'W2-4-16'
        : scheme.toUpperCase();
  return `${path}, ${f16 ? 'f16 available (packed path in use)' : 'no-f16 path'}`;
}
function adapterName(): string {
  return gpuSummary.split('|')[0] || 'GPU';
}

// ---------- settings ----------
function loadSettings(): Settings {
  try {
    return { ...DEFAULT_SETTINGS, ...JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') };
  } catch {
    return { ...DEFAULT_SETTINGS };
  }
}
function showSettings(s: Settings): void {
  $<HTMLTextAreaElement>('set-system').value = s.system;
  $<HTMLInputElement>('set-temperature').value = String(s.temperature);
  $<HTMLInputElement>('set-top-p').value = String(s.topP);
  $<HTMLInputElement>('set-max-tokens').value = String(s.maxTokens);
  $<HTMLInputElement>('set-seed').value = s.seed === null ? '' : String(s.seed);
}
function readSettings(): Settings {
  const num = (id: string, d: number) => {
    const v = Number.parseFloat($<HTMLInputElement>(id).value);
    return Number.isFinite(v) ? v : d;
  };
  const seedText = $<HTMLInputElement>('set-seed').value.trim();
  const s: Settings = {
    system: $<HTMLTextAreaElement>('set-system').value,
    temperature: Math.max(0, num('set-temperature', DEFAULT_SETTINGS.temperature)),
    topP: Math.min(1, Math.max(0, num('set-top-p', DEFAULT_SETTINGS.topP))),
    maxTokens: Math.max(1, Math.round(num('set-max-tokens', DEFAULT_SETTINGS.maxTokens))),
    seed: seedText === '' || !Number.isFinite(Number(seedText)) ? null : Math.round(Number(seedText)),
  };
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
  return s;
}

// ---------- conversations ----------
async function renderConversationList(): Promise<void> {
  const list = $('conversations');
  list.replaceChildren();
  for (const c of await listConversations()) {
    const li = document.createElement('li');
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'conv-open';
    open.textContent = c.title;
    if (c.id === current.id) open.setAttribute('aria-current', 'true');
    open.onclick = () => void openConversation(c.id);
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'conv-delete';
    del.textContent = '×';
    del.setAttribute('aria-label', `Delete conversation “${c.title}”`);
    del.onclick = async () => {
      await deleteConversation(c.id);
      if (c.id === current.id) startNewChat();
      await renderConversationList();
    };
    li.append(open, del);
    list.append(li);
  }
}

async function openConversation(id: string): Promise<void> {
  if (generating) return;
  const c = await getConversation(id);
  if (!c) return;
  current = c;
  localStorage.setItem('pagelm.current', c.id);
  renderMessages();
  await renderConversationList();
  document.body.classList.remove('show-sidebar');
}

function startNewChat(): void {
  if (generating) return;
  current = newConversation();
  localStorage.removeItem('pagelm.current');
  renderMessages();
  void renderConversationList();
  $('input').focus();
}

async function persist(): Promise<void> {
  if (current.messages.length === 0) return;
  current.updated = Date.now();
  const first = current.messages.find((m) => m.role === 'user');
  if (first && current.title === 'New chat') current.title = first.content.slice(0, 40) || 'New chat';
  await saveConversation(current);
  localStorage.setItem('pagelm.current', current.id);
  await renderConversationList();
}

// ---------- messages ----------
function statsText(m: ChatMessage): string {
  if (!m.stats) return m.stopped ? 'stopped' : '';
  const s = m.stats;
  return (
    `prefill ${s.prefillTokensPerS.toFixed(1)} tok/s · decode ${s.decodeTokensPerS.toFixed(1)} tok/s · ` +
    `${s.promptTokens} prompt + ${s.completionTokens} reply tokens · ${s.seconds.toFixed(2)} s` +
    (m.stopped ? ' · stopped' : '')
  );
}

/** One message element; assistant text is sanitized markdown, user text is plain text. */
function messageElement(m: ChatMessage, index: number): HTMLLIElement {
  const li = document.createElement('li');
  li.className = `msg ${m.role}`;
  li.dataset.index = String(index);
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = m.role === 'user' ? 'You' : 'Model';
  const body = document.createElement('div');
  body.className = 'body';
  if (m.role === 'user') body.textContent = m.content;
  else setMarkdown(body, m.content);
  li.append(who, body);
  if (m.role === 'assistant') {
    const foot = document.createElement('div');
    foot.className = 'foot';
    const stats = document.createElement('span');
    stats.className = 'stats';
    stats.textContent = statsText(m);
    const copy = document.createElement('button');
    copy.type = 'button';
    copy.className = 'copy';
    copy.textContent = 'Copy';
    copy.setAttribute('aria-label', 'Copy reply');
    copy.onclick = async () => {
      try {
        await navigator.clipboard.writeText(current.messages[index]?.content ?? m.content);
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed';
      }
      setTimeout(() => (copy.textContent = 'Copy'), 1500);
    };
    foot.append(stats, copy);
    if (index === current.messages.length - 1) {
      const regen = document.createElement('button');
      regen.type = 'button';
      regen.className = 'regenerate';
      regen.textContent = 'Regenerate';
      regen.onclick = () => void regenerate();
      foot.append(regen);
    }
    li.append(foot);
  }
  return li;
}

function renderMessages(): void {
  const ol = $('messages');
  ol.replaceChildren(...current.messages.map((m, i) => messageElement(m, i)));
  ol.scrollTop = ol.scrollHeight;
  updateComposer();
}

function updateComposer(): void {
  $<HTMLButtonElement>('send').disabled = !modelReady || generating !== null;
  $('stop').hidden = generating === null;
  $('send').hidden = generating !== null;
}

// ---------- generation ----------
async function generate(): Promise<void> {
  if (!engine || !modelReady || generating) return;
  const s = readSettings();
  const msgs: SdkMessage[] = [];
  if (s.system.trim()) msgs.push({ role: 'system', content: s.system });
  for (const m of current.messages) msgs.push({ role: m.role, content: m.content });
  const reply: ChatMessage = { role: 'assistant', content: '' };
  current.messages.push(reply);
  const index = current.messages.length - 1;
  renderMessages();
  const li = $('messages').lastElementChild as HTMLLIElement;
  const body = li.querySelector('.body') as HTMLElement;
  li.classList.add('streaming');
  body.setAttribute('aria-live', 'polite');
  body.setAttribute('aria-label', 'Reply being written');
  const ctrl = new AbortController();
  generating = ctrl;
  updateComposer();
  let last: ChatCompletionChunk | null = null;
  try {
    const stream = await engine.chat.completions.create(
      {
        messages: msgs,
        stream: true,
        temperature: s.temperature,
        top_p: s.topP,
        max_tokens: s.maxTokens,
        ...(s.seed === null ? {} : { seed: s.seed }),
        context_overflow: 'truncate',
      },
      { signal: ctrl.signal },
    );
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta.content;
      if (d) {
        reply.content += d;
        setMarkdown(body, reply.content);
        $('messages').scrollTop = $('messages').scrollHeight;
      }
      last = chunk;
    }
    if (last?.timing && last.usage) {
      reply.stats = {
        promptTokens: last.usage.prompt_tokens,
        completionTokens: last.usage.completion_tokens,
        prefillTokensPerS: last.timing.prefill_tokens_per_s ?? 0,
        decodeTokensPerS: last.timing.decode_tokens_per_s ?? 0,
        seconds: last.timing.total_seconds,
        finish: last.choices[0]?.finish_reason ?? 'stop',
      };
    }
  } catch (e) {
    const err = e as Error;
    if (err.name === 'AbortError') reply.stopped = true;
    else {
      reply.stopped = true;
      setStatus(`Generation failed: ${err.message}`);
    }
  } finally {
    generating = null;
    current.messages[index] = reply;
    await persist();
    renderMessages();
    finished++;
  }
}

async function send(): Promise<void> {
  const input = $<HTMLTextAreaElement>('input');
  const text = input.value;
  if (!text.trim() || !modelReady || generating) return;
  input.value = '';
  current.messages.push({ role: 'user', content: text });
  await persist();
  await generate();
}

async function regenerate(): Promise<void> {
  if (generating) return;
  if (current.messages.at(-1)?.role === 'assistant') current.messages.pop();
  await generate();
}

function stop(): void {
  generating?.abort();
}

// ---------- models ----------
async function loadStored(info: StoredModelInfo): Promise<void> {
  modelReady = false;
  updateComposer();
  engine ??= createWorkerEngine();
  setStatus(`Loading ${info.name} (${info.scheme})…`);
  const report = await engine.loadModel({
    source: { kind: 'stored', id: info.id },
    onProgress: (p) => {
      if (p.stage === 'weights' && p.totalBytes)
        setStatus(`Loading ${info.name}: ${Math.round((100 * p.loadedBytes) / p.totalBytes)}%`);
    },
  });
  loadedModel = info;
  modelReady = true;
  localStorage.setItem(MODEL_KEY, info.id);
  setStatus(
    `${report.adapter || adapterName()} · ${kernelPath(report.scheme)} · model ${report.model} (${report.scheme}` +
      `${info.method && info.method !== 'none' ? ` ${info.method}` : ''})`,
  );
  $('empty').hidden = true;
  $('download').hidden = true;
  updateComposer();
  await renderModelList();
}

function progressText(p: StoreProgress, t0: number): string {
  const rate = p.bytesPerSecond || p.bytesDone / Math.max(0.001, (performance.now() - t0) / 1000);
  const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : 0;
  return (
    `${fmtBytes(p.bytesDone)} of ${fmtBytes(p.bytesTotal)} · ${fmtBytes(rate)}/s · ` +
    `${p.done ? 'done' : `about ${Math.ceil(eta)} s left`} · files ${p.filesDone}/${p.filesTotal}`
  );
}

async function downloadPack(url: string, where: 'download' | 'task'): Promise<StoredModelInfo> {
  const text = $(`${where}-text`);
  const bar = $<HTMLProgressElement>(`${where}-progress`);
  $(where).hidden = false;
  const t0 = performance.now();
  text.textContent = `Downloading ${url}…`;
  const res = await store.download(url, {
    onProgress: (p) => {
      bar.max = p.bytesTotal || 1;
      bar.value = p.bytesDone;
      text.textContent = `Downloading ${url}: ${progressText(p, t0)}`;
    },
  });
  return store.info(res.id);
}

let modelListGeneration = 0;

async function renderModelList(): Promise<void> {
  const ul = $('model-list');
  const generation = ++modelListGeneration;
  const models = await store.list();
  // Overlapping calls: only the latest may write, or a slow, stale listing (say, one started
  // before a model was stored) could replace a newer one.
  if (generation !== modelListGeneration) return;
  ul.replaceChildren();
  if (models.length === 0) {
    const li = document.createElement('li');
    li.textContent = 'No models stored yet.';
    ul.append(li);
  }
  for (const m of models) {
    const li = document.createElement('li');
    li.className = 'model';
    const label = document.createElement('span');
    const inUse = loadedModel?.id === m.id && modelReady;
    label.textContent =
      `${m.name} · ${m.scheme}${m.method !== 'none' ? ` ${m.method}` : ''} · ${fmtBytes(m.bytes)} · ${m.status}` +
      (m.status === 'downloading' ? ` (${fmtBytes(m.storedBytes)} stored)` : '') +
      (inUse ? ' · in use' : '');
    li.append(label);
    if (m.status === 'ready' && !inUse) {
      li.append(button('Use', `Use ${m.name}`, () => void loadStored(m).catch(showError)));
    }
    if (m.status !== 'ready' && m.source.kind === 'url') {
      const url = m.source.url;
      li.append(
        button('Resume', `Resume ${m.name}`, async () => {
          const info = await downloadPack(url, 'task').catch(showError);
          if (info) await loadStored(info).catch(showError);
        }),
      );
    }
    li.append(
      button('Delete', `Delete ${m.name}`, async () => {
        if (inUse) {
          await engine?.unload();
          modelReady = false;
          loadedModel = null;
          localStorage.removeItem(MODEL_KEY);
          updateComposer();
        }
        await store.delete(m.id);
        await renderModelList();
      }),
    );
    ul.append(li);
  }
}

function button(text: string, label: string, onclick: () => unknown): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.onclick = () => void onclick();
  return b;
}

function showError(e: unknown): undefined {
  const err = e as Error;
  setStatus(`${err.name ?? 'Error'}: ${err.message ?? String(e)}`);
  return undefined;
}

function convertInWorker(req: ConvertRequest): Promise<Map<string, Uint8Array>> {
  const worker = new Worker(new URL('./convert-worker.ts', import.meta.url), {
    type: 'module',
    name: 'pagelm-convert',
  });
  const text = $('task-text');
  const bar = $<HTMLProgressElement>('task-progress');
  $('task').hidden = false;
  text.textContent = `Opening the checkpoint…`;
  return new Promise((resolve, reject) => {
    worker.onmessage = (ev: MessageEvent<ConvertReply>) => {
      const m = ev.data;
      if (m.kind === 'progress') {
        if (m.stage === 'tensor') {
          bar.max = m.total;
          bar.value = m.index;
          text.textContent = `Quantizing (${req.scheme} ${req.method}): tensor ${m.index} of ${m.total}, ${m.name} · ${m.seconds.toFixed(1)} s`;
        } else text.textContent = 'Calibrating…';
      } else {
        worker.terminate();
        if (m.kind === 'done') resolve(m.files);
        else reject(new Error(m.message));
      }
    };
    worker.onerror = (e) => {
      worker.terminate();
      reject(new Error(e.message || 'the conversion worker failed'));
    };
    worker.postMessage(req);
  });
}

async function importConverted(req: ConvertRequest): Promise<void> {
  const files = await convertInWorker(req);
  const t0 = performance.now();
  const res = await store.importPack(files, {
    onProgress: (p) => ($('task-text').textContent = `Storing: ${progressText(p, t0)}`),
  });
  $('task-text').textContent = 'Stored.';
  await loadStored(await store.info(res.id));
}

function wireModelManager(): void {
  $('add-url').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const url = $<HTMLInputElement>('pack-url').value.trim();
    if (!url) return;
    const info = await downloadPack(url, 'task').catch(showError);
    if (info) await loadStored(info).catch(showError);
  });
  $<HTMLInputElement>('pack-folder').addEventListener('change', async (ev) => {
    const files = (ev.target as HTMLInputElement).files;
    if (!files?.length) return;
    $('task').hidden = false;
    const t0 = performance.now();
    try {
      const res = await store.importFiles(files, {
        onProgress: (p) => ($('task-text').textContent = `Importing: ${progressText(p, t0)}`),
      });
      await loadStored(await store.info(res.id));
    } catch (e) {
      showError(e);
    }
  });
  const convOpts = () => ({
    scheme: $<HTMLSelectElement>('conv-scheme').value as Scheme,
    method: $<HTMLSelectElement>('conv-method').value as Method,
  });
  $<HTMLInputElement>('conv-hf').addEventListener('change', (ev) => {
    const files = [...((ev.target as HTMLInputElement).files ?? [])];
    if (!files.length) return;
    void importConverted({
      kind: 'hf',
      files: files.map((f) => ({ path: f.webkitRelativePath || f.name, file: f })),
      ...convOpts(),
    }).catch(showError);
  });
  $<HTMLInputElement>('conv-gguf').addEventListener('change', (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (!f) return;
    void importConverted({ kind: 'gguf', files: [{ path: f.name, file: f }], ...convOpts() }).catch(
      showError,
    );
  });
}

/** Picks the model: the one used last, else the default pack (downloaded on first visit), else any. */
async function chooseModel(): Promise<void> {
  const models = await store.list();
  const ready = models.filter((m) => m.status === 'ready');
  const lastId = localStorage.getItem(MODEL_KEY);
  const defaultUrl = new URL(DEFAULT_PACK, location.href).href;
  const fromDefault = (m: StoredModelInfo) => m.source.kind === 'url' && m.source.url.startsWith(defaultUrl);
  let pick = ready.find((m) => m.id === lastId) ?? ready.find(fromDefault);
  if (!pick) {
    let served = false;
    try {
      // A pack manifest, not an SPA fallback page answering 200 for every path.
      const res = await fetch(new URL('manifest.json', defaultUrl), { cache: 'no-store' });
      served = res.ok && Array.isArray(((await res.json()) as { shards?: unknown }).shards);
    } catch {
      served = false;
    }
    if (served) {
      $('download-title').textContent = 'Downloading the default model';
      pick = await downloadPack(defaultUrl, 'download');
    }
  }
  pick ??= ready[0];
  if (!pick) {
    $('empty').hidden = false;
    setStatus(`${adapterName()} · no model yet: open Models to add one`);
    openPanel('models', true);
    await renderModelList();
    return;
  }
  await loadStored(pick);
}

function openPanel(id: 'models' | 'settings', show?: boolean): void {
  const panel = $(id);
  const next = show ?? panel.hidden;
  panel.hidden = !next;
  $(`toggle-${id}`).setAttribute('aria-expanded', String(next));
  if (id === 'models' && next) void renderModelList();
}

function wireUi(): void {
  $('composer').addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });
  $('input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      void send();
    }
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && generating) {
      ev.preventDefault();
      stop();
    }
  });
  $('stop').onclick = stop;
  $('new-chat').onclick = startNewChat;
  $('toggle-models').onclick = () => openPanel('models');
  $('toggle-settings').onclick = () => openPanel('settings');
  $('toggle-chats').onclick = () => {
    const on = document.body.classList.toggle('show-sidebar');
    $('toggle-chats').setAttribute('aria-expanded', String(on));
  };
  for (const id of ['set-system', 'set-temperature', 'set-top-p', 'set-max-tokens', 'set-seed'])
    $(id).addEventListener('change', () => readSettings());
  wireModelManager();
}

async function checkGpu(): Promise<boolean> {
  try {
    const gpu = await acquireDevice();
    const report = await runDoctor(gpu);
    const a = gpu.caps.adapter;
    const name = a.description || a.architecture || a.vendor || 'GPU';
    gpuSummary = `${name}|dot4 ${report.verdicts[0].ok ? 'ok' : 'no'}|f16 ${gpu.caps.features.shaderF16 ? 'yes' : 'no'}`;
    const tooSmall = report.verdicts.find((v) => v.path === 'large tensors' && !v.ok);
    gpu.device.destroy();
    setStatus(`${name} · ${kernelPath('w4a8')}${tooSmall ? ' · small storage bindings' : ''}`);
    return true;
  } catch (e) {
    showNoGpu(e as Error);
    return false;
  }
}

function showNoGpu(err: Error): void {
  const limit = err.name === 'LimitTooSmallError' || err.name === 'MissingFeatureError';
  setStatus(limit ? 'GPU too small for pagelm' : 'WebGPU unavailable');
  $('no-webgpu-title').textContent = limit
    ? 'This GPU is too small for pagelm'
    : 'This browser cannot run pagelm yet';
  $('no-webgpu-reason').textContent = err.message;
  $('no-webgpu').hidden = false;
  $('download').hidden = true;
  $('composer').hidden = true;
}

function registerServiceWorker(): void {
  // Only in the built page (no Vite HMR): in `npm run dev` a cache-first worker would serve stale modules.
  if (import.meta.hot || !('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js').catch((e) => console.warn('service worker:', e));
}

async function start(): Promise<void> {
  registerServiceWorker();
  showSettings(loadSettings());
  wireUi();
  const last = localStorage.getItem('pagelm.current');
  const saved = last ? await getConversation(last) : undefined;
  if (saved) current = saved;
  renderMessages();
  await renderConversationList();
  if (!(await checkGpu())) return;
  try {
    await chooseModel();
  } catch (e) {
    const err = e as Error;
    // The engine's own device can still refuse (a limit or feature the model needs): say it plainly.
    if (['LimitTooSmallError', 'MissingFeatureError', 'WebGPUUnavailableError'].includes(err.name)) {
      showNoGpu(err);
      return;
    }
    showError(e);
    openPanel('models', true);
  }
}

/** For tests and the console: what the page is doing. */
(window as unknown as { pagelmApp: unknown }).pagelmApp = {
  get ready() {
    return modelReady;
  },
  get generating() {
    return generating !== null;
  },
  get model() {
    return loadedModel;
  },
  get finished() {
    return finished;
  },
};

void start();
