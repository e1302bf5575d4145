/**
 * Letting the user choose a pack folder: showDirectoryPicker() where the File System Access API
 * exists (Chromium), else a hidden `<input type=file webkitdirectory>`. Must run inside a user
 * gesture (a click handler). The result goes to ModelStore.importDirectory / importFiles.
 */
type Picker = (opts?: { id?: string; mode?: 'read' }) => Promise<FileSystemDirectoryHandle>;

export type ChosenFolder =
  | { kind: 'handle'; handle: FileSystemDirectoryHandle }
  | { kind: 'files'; files: File[] };

/** null when the user cancels. */
export async function choosePackFolder(): Promise<ChosenFolder | null> {
  const picker = (globalThis as { showDirectoryPicker?: Picker }).showDirectoryPicker;
  if (picker) {
    try {
      return { kind: 'handle', handle: await picker({ id: 'pagelm-pack', mode: 'read' }) };
    } catch (e) {
      if ((e as DOMException)?.name === 'AbortError') return null;
      throw e;
    }
  }
  const input = document.createElement('input');
  input.type = 'file';
  input.webkitdirectory = true;
  input.style.display = 'none';
  document.body.append(input);
  try {
    return await new Promise<ChosenFolder | null>((ok) => {
      input.addEventListener('change', () =>
        ok(input.files?.length ? { kind: 'files', files: [...input.files] } : null),
      );
      input.addEventListener('cancel', () => ok(null));
      input.click();
    });
  } finally {
    input.remove();
  }
}
