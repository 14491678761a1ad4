/**
 * `spawnguard-worker import <config file> [--write] [--from <format>] [--json]`: reads a Claude
 * Desktop, Claude Code or Cursor MCP config and prints (or, with --write, writes) the host's
 * servers.json and the client config whose entries launch `spawnguard-worker mcp <name>` instead.
 * --write backs the client file up first (<file>.spawnguard-backup-<time>) and keeps its mode.
 */
import { copyFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readStateFileSync, StateFileError, writeStateFileSync } from '@spawnguard/internal';
import { type Config, defaultPort } from './config.js';
import { ensureHome, HomeError, homePaths, writeSecureFile } from './home.js';
import {
  type BridgeLaunch,
  CLIENT_FORMATS,
  type ClientFormat,
  detectFormat,
  type HostServer,
  ImportError,
  type ImportPlan,
  planImport,
} from './import-config.js';

const CLI_PATH = fileURLToPath(new URL('./cli.js', import.meta.url));

export interface ImportOptions {
  file: string;
  write: boolean;
  json: boolean;
  from?: string | undefined;
}

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    // Editor configs are not ours (and ~/.claude.json can be large): no ownership or size rule,
    // but never a blocking open or a followed link.
    text = readStateFileSync(path, { maxBytes: 64 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof StateFileError && error.reason === 'missing')
      throw new ImportError(`${what} ${path} does not exist`, path);
    if (error instanceof StateFileError && error.reason === 'foreign-owner') {
      // Importing another user's file is fine to read; only our own state files must be ours.
      throw new ImportError(`${error.message}`, path);
    }
    throw new ImportError(`cannot read ${what} ${path}: ${(error as Error).message}`, path);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ImportError(`${what} ${path} is not valid JSON: ${(error as Error).message}`, path);
  }
}

/** The bridge command an editor launches in place of the server (absolute paths: editors have a thin PATH). */
export function bridgeLaunch(config: Config): BridgeLaunch {
  const flags = ['--home', config.home, ...(config.port !== defaultPort() ? ['--port', String(config.port)] : [])];
  return { command: process.execPath, argsBefore: [CLI_PATH, 'mcp'], argsAfter: flags };
}

function existingServers(path: string): { mcpServers: Record<string, HostServer> } | undefined {
  let data: unknown;
  try {
    data = readJsonFile(path, 'servers file');
  } catch (error) {
    if (error instanceof ImportError && /does not exist/.test(error.message)) return undefined;
    throw error;
  }
  const servers = (data as { mcpServers?: unknown } | null)?.mcpServers;
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
    throw new ImportError(`${path} has no "mcpServers" object; fix or remove it before importing`, path);
  }
  return data as { mcpServers: Record<string, HostServer> };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export function plan(config: Config, options: ImportOptions): ImportPlan {
  const data = readJsonFile(options.file, 'config file');
  let format: ClientFormat | null;
  if (options.from !== undefined) {
    if (!CLIENT_FORMATS.includes(options.from as ClientFormat)) {
      throw new ImportError(
        `--from must be one of ${CLIENT_FORMATS.join(', ')}, got ${JSON.stringify(options.from)}`,
        options.file,
      );
    }
    format = options.from as ClientFormat;
  } else format = detectFormat(options.file, data);
  if (!format) {
    throw new ImportError(
      `cannot tell which client wrote ${options.file}; pass --from ${CLIENT_FORMATS.join('|')}`,
      options.file,
    );
  }
  return planImport({
    path: options.file,
    data,
    format,
    existing: existingServers(homePaths(config.home).servers),
    bridge: bridgeLaunch(config),
  });
}

export async function runImport(config: Config, options: ImportOptions): Promise<number> {
  const say = (line: string) => process.stderr.write(`spawnguard-worker import: ${line}\n`);
  let result: ImportPlan;
  try {
    if (options.write) ensureHome(config.home);
    result = plan(config, options);
  } catch (error) {
    if (error instanceof ImportError || error instanceof HomeError) {
      say(error.message);
      return error instanceof ImportError ? 2 : 1;
    }
    throw error;
  }
  const paths = homePaths(config.home);
  if (options.json) {
    process.stdout.write(json({ serversFile: paths.servers, ...result }));
  } else if (!options.write) {
    process.stdout.write(`# ${paths.servers} (the servers the host runs)\n${json(result.servers)}\n`);
    process.stdout.write(`# ${options.file} (its entries now launch the bridge)\n${json(result.client)}`);
  }
  if (options.write && result.moved.length > 0) {
    const backup = `${options.file}.spawnguard-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    copyFileSync(options.file, backup);
    writeSecureFile(paths.servers, json(result.servers));
    writeStateFileSync(options.file, json(result.client), { mode: statSync(backup).mode & 0o777 });
    say(`wrote ${paths.servers} and ${options.file} (the original is in ${backup})`);
  }
  say(
    `${result.moved.length} moved${result.moved.length ? ` (${result.moved.join(', ')})` : ''}` +
      `, ${result.leftAlone.length} left as they are${options.write || result.moved.length === 0 ? '' : ' (run with --write to apply)'}`,
  );
  for (const entry of result.leftAlone) say(`  left alone: ${entry.where}: ${entry.reason}`);
  return 0;
}
