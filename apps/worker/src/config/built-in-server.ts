import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import type { HostedServer } from './hosted-server.js';

/**
 * The built-in demo server (helper-server.ts, built beside the CLI): the one server when there is
 * no servers config, so a first run and the storm demo need no setup. Its argv carries
 * `--spawnguard-helper` and the home, so tests and the storm count helpers by command line.
 */
const HELPER_PATH = fileURLToPath(new URL('./helper-server.js', import.meta.url));

export function helperArgs(config: Config): string[] {
  return [
    HELPER_PATH,
    '--spawnguard-helper',
    '--home',
    config.home,
    ...(config.helperGrandchild ? ['--with-grandchild'] : []),
    ...(config.helperLinger ? ['--linger'] : []),
  ];
}

export function builtInServer(config: Config): HostedServer {
  return {
    command: process.execPath,
    args: helperArgs(config),
    // A backend gets a minimal environment: drills the helper reads must be passed on by name.
    env: config.helperCrash ? { SPAWNGUARD_HELPER_CRASH: 'always' } : {},
  };
}
