/**
 * `spawnguard-worker import <config file> [--write] [--from <format>] [--json]`: reads a Claude
 * Desktop, Claude Code, Cursor, VS Code, Gemini CLI or Codex MCP config and prints (or, with
 * --write, writes) the host's servers.json and the client config whose entries launch
 * `spawnguard-worker mcp <name>` instead. --write backs the client file up first
 * (<file>.spawnguard-backup-<time>) and keeps its mode; a client file that would not come back whole
 * (client-file.ts) is not written, and neither is servers.json. Moved entries keep their `${VAR}`
 * expressions; the output names the variables the env file must define (names, never values).
 */
import { copyFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readStateFileSync, StateFileError, writeStateFileSync } from '@spawnguard/internal';
import { type Config, defaultPort } from '../config/config.js';
import { EnvFileError, readEnvFile } from '../config/env-file.js';
import { ensureHome, HomeError, homePaths, writeSecureFile } from '../config/home.js';
import { type ClientFile, parseClientFile, renderClientFile, renderFragment } from './client-file.js';
import { CLIENT_FORMATS, CLIENTS, type ClientFormat, detectFormat, syntaxOf, userContext } from './client-formats.js';
import { type BridgeLaunch, type HostServer, ImportError, type ImportPlan, planImport } from './import-config.js';

const CLI_PATH = fileURLToPath(new URL('./cli.js', import.meta.url));

export interface ImportOptions {
  file: string;
  write: boolean;
  json: boolean;
  from?: string | undefined;
}

function readText(path: string, what: string): string {
  try {
    // Editor configs are not ours (and ~/.claude.json can be large): no ownership or size rule,
    // but never a blocking open or a followed link.
    return readStateFileSync(path, { maxBytes: 64 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof StateFileError && error.reason === 'missing')
      throw new ImportError(`${what} ${path} does not exist`, path);
    if (error instanceof StateFileError && error.reason === 'foreign-owner') {
      // Importing another user's file is fine to read; only our own state files must be ours.
      throw new ImportError(`${error.message}`, path);
    }
    throw new ImportError(`cannot read ${what} ${path}: ${(error as Error).message}`, path);
  }
}

/** The bridge command an editor launches in place of the server (absolute paths: editors have a thin PATH). */
export function bridgeLaunch(config: Config): BridgeLaunch {
  const flags = ['--home', config.home, ...(config.port !== defaultPort() ? ['--port', String(config.port)] : [])];
  return { command: process.execPath, argsBefore: [CLI_PATH, 'mcp'], argsAfter: flags };
}

function existingServers(path: string): { mcpServers: Record<string, HostServer> } | undefined {
  let text: string;
  try {
    text = readText(path, 'servers file');
  } catch (error) {
    if (error instanceof ImportError && /does not exist/.test(error.message)) return undefined;
    throw error;
  }
  const { data } = parseClientFile(path, text, 'json', 'servers file');
  const servers = (data as { mcpServers?: unknown }).mcpServers;
  if (typeof servers !== 'object' || servers === null || Array.isArray(servers)) {
    throw new ImportError(`${path} has no "mcpServers" object; fix or remove it before importing`, path);
  }
  return data as { mcpServers: Record<string, HostServer> };
}

const json = (value: unknown) => `${JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? Number(v) : v), 2)}\n`;

export interface Planned extends ImportPlan {
  file: ClientFile;
}

export function plan(config: Config, options: ImportOptions): Planned {
  let format: ClientFormat | null = null;
  if (options.from !== undefined) {
    if (!CLIENT_FORMATS.includes(options.from as ClientFormat)) {
      throw new ImportError(
        `--from must be one of ${CLIENT_FORMATS.join(', ')}, got ${JSON.stringify(options.from)}`,
        options.file,
      );
    }
    format = options.from as ClientFormat;
  }
  const text = readText(options.file, 'config file');
  const file = parseClientFile(options.file, text, syntaxOf(options.file, format ?? undefined));
  format ??= detectFormat(options.file, file.data);
  if (!format) {
    throw new ImportError(
      `cannot tell which client wrote ${options.file}; pass --from ${CLIENT_FORMATS.join('|')}`,
      options.file,
    );
  }
  const result = planImport({
    context: userContext(options.file),
    data: file.data,
    format,
    existing: existingServers(homePaths(config.home).servers),
    bridge: bridgeLaunch(config),
  });
  return { ...result, file };
}

/** Which required variables the env file does not define yet (names only), or why it cannot be read. */
function envFileCheck(path: string, names: string[]): { undefined: string[] | null; problem: string | null } {
  try {
    const values = readEnvFile(path, { required: false });
    return { undefined: names.filter((n) => !values.has(n)), problem: null };
  } catch (error) {
    if (error instanceof EnvFileError) return { undefined: null, problem: error.message };
    throw error;
  }
}

export async function runImport(config: Config, options: ImportOptions): Promise<number> {
  const say = (line: string) => process.stderr.write(`spawnguard-worker import: ${line}\n`);
  let result: Planned;
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
  const { file, ...planned } = result;
  let clientText: string | null = null;
  let notWritten: string | null = null;
  if (result.moved.length > 0) {
    try {
      clientText = renderClientFile(file, result.client);
    } catch (error) {
      if (!(error instanceof ImportError)) throw error;
      notWritten = error.message;
    }
  }
  const required = result.variables.filter((v) => !v.hasDefault).map((v) => v.name);
  const optional = result.variables.filter((v) => v.hasDefault).map((v) => v.name);
  const check = required.length ? envFileCheck(paths.envFile, required) : { undefined: [], problem: null };

  if (options.json) {
    process.stdout.write(
      json({
        serversFile: paths.servers,
        ...planned,
        envFile: { path: paths.envFile, mustDefine: required, mayDefine: optional, ...check },
        clientFileRewritable: notWritten === null,
        ...(notWritten ? { notWritten } : {}),
      }),
    );
  } else if (!options.write) {
    process.stdout.write(`# ${paths.servers} (the servers the host runs)\n${json(result.servers)}\n`);
    if (clientText !== null || result.moved.length === 0) {
      process.stdout.write(
        `# ${options.file} (its entries now launch the bridge)\n${clientText ?? renderClientFile({ ...file, notRewritable: null }, result.client)}`,
      );
    } else {
      // Not rewritable: the entries to put in by hand, in the file's own syntax.
      const table = CLIENTS[result.format].table;
      const entries = Object.fromEntries(
        result.moved
          .filter((where) => !where.includes(' in projects['))
          .map((name) => [name, (result.client[table] as Record<string, unknown>)[name]]),
      );
      process.stdout.write(
        `# ${options.file} cannot be rewritten (see below); the bridge entries to put in by hand:\n${renderFragment(file.syntax, { [table]: entries })}`,
      );
    }
  }
  let code = 0;
  if (options.write && result.moved.length > 0) {
    if (notWritten !== null || clientText === null) {
      say(`nothing was written: ${notWritten}`);
      code = 2;
    } else {
      const backup = `${options.file}.spawnguard-backup-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      copyFileSync(options.file, backup);
      writeSecureFile(paths.servers, json(result.servers));
      writeStateFileSync(options.file, clientText, { mode: statSync(backup).mode & 0o777 });
      say(`wrote ${paths.servers} and ${options.file} (the original is in ${backup})`);
    }
  } else if (notWritten !== null) say(`--write would write nothing: ${notWritten}`);
  say(
    `${result.moved.length} moved${result.moved.length ? ` (${result.moved.join(', ')})` : ''}` +
      `, ${result.leftAlone.length} left as they are${options.write || result.moved.length === 0 ? '' : ' (run with --write to apply)'}`,
  );
  for (const entry of result.leftAlone) say(`  left alone: ${entry.where}: ${entry.reason}`);
  if (required.length > 0) {
    const users = (name: string) => result.variables.find((v) => v.name === name)!.servers.join(', ');
    say(
      `the moved servers read ${required.map((n) => `${n} (${users(n)})`).join(', ')}: define ${required.length === 1 ? 'it' : 'them'} in ${paths.envFile} (NAME=VALUE lines, chmod 600), the place the worker reads every time`,
    );
    if (check.problem) say(`  ${check.problem}`);
    else if (check.undefined?.length) say(`  not defined there yet: ${check.undefined.join(', ')}`);
  }
  if (optional.length > 0) say(`optional (they have a default): ${optional.join(', ')}`);
  return code;
}
