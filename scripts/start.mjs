#!/usr/bin/env node
// `npm start`: prepares what the chat page needs, then serves it.
// (Later: converts ../shared/models/tinystories-656k into a pack on first run.)
import { spawn } from 'node:child_process';

const vite = spawn('npx', ['vite', '--host', '127.0.0.1', '--port', process.env.PORT ?? '5173'], {
  stdio: 'inherit',
});
vite.on('exit', (code) => process.exit(code ?? 0));
