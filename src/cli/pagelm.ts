#!/usr/bin/env node
/**
 * The `pagelm` command line (Node). Each subcommand lives in its own module; this file only
 * dispatches and turns errors into a message and a non-zero exit.
 */
import { runWithoutFastbins } from '../node/malloc-tunables';
import { CONVERT_HELP, convertCommand } from './convert';
import { doctorCommand } from './doctor';
import { QUALITY_HELP, qualityCommand } from './quality';
import { RUN_HELP, runCommand } from './run';
import { UsageError } from './usage';

type Command = (argv: string[]) => Promise<void>;

const commands: Record<string, { run: Command; help: string }> = {
  convert: { run: convertCommand, help: CONVERT_HELP },
  doctor: {
    run: doctorCommand,
    help: 'show the WebGPU adapter, its limits and which kernels can run [--json]',
  },
  quality: { run: qualityCommand, help: QUALITY_HELP },
  run: { run: runCommand, help: RUN_HELP },
};

function usage(): string {
  return [
    'usage: pagelm <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.help}`),
  ].join('\n');
}

async function main(): Promise<void> {
  const [name, ...rest] = process.argv.slice(2);
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command '${name}'\n\n${usage()}`);
  await cmd.run(rest);
}

// Decoding in Node stalls on glibc's fastbins (src/node/malloc-tunables.ts): run without them.
runWithoutFastbins(main).then(
  (code) => process.exit(code), // Dawn keeps the event loop alive; exit explicitly
  (e: unknown) => {
    const err = e as Error;
    console.error(`pagelm: ${err.message}`);
    if (process.env.PAGELM_DEBUG && err.stack) console.error(err.stack);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
