import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Dawn needs a writable XDG_RUNTIME_DIR (see ../shared/gpu/README.md).
process.env.XDG_RUNTIME_DIR ??= mkdtempSync(join(tmpdir(), 'pagelm-xdg-'));
