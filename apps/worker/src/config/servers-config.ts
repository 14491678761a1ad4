/**
 * The MCP servers the worker hosts: the JSON users already write for Claude Desktop, Claude Code and
 * Cursor, `{ "mcpServers": { "<name>": { command, args, env, cwd } } }`, plus our optional `share`,
 * `idleMs`, `maxInstances`, `serialize`, `tools` / `prompts` / `resources` (filters),
 * `requestTimeoutMs`, `maxTimeoutsInARow`, `disabled` and `envFile`. Read from `--config` /
 * SPAWNGUARD_CONFIG, else `<home>/servers.json`. A bad file or entry is a ServersConfigError naming
 * the server and the field (the CLI exits 2); unknown fields are warnings. With no file, the built-in
 * demo server is the one server, so a first run needs no setup.
 *
 * `${VAR}` and `${VAR:-default}` in `command`, `args`, `env` values and `cwd` are expanded here, when
 * the config is loaded (at boot and at every SIGHUP reload, which so re-reads the env file), with
 * Claude Code's rules (var-expansion.ts). A value comes from the server's env file (`envFile`, else
 * `<home>/env`; env-file.ts), then from the worker's own environment. A server whose variable is set
 * in neither (and has no default), or whose env file cannot be used, is not started: it is left out
 * of `servers`, and `expansion[name].error` names the variable (or the file); the others run.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { readStateFileSync, StateFileError } from '@spawnguard/internal';
import type { FilterSpec } from '@spawnguard/mcp-host';
import { builtInServer } from './built-in-server.js';
import type { Config } from './config.js';
import { EnvFileError, readEnvFile } from './env-file.js';
import type { HomePaths } from './home.js';
import type { HostedServer } from './hosted-server.js';
import { expandVariables, mergeUses, variablesIn } from './var-expansion.js';

export type { HostedServer } from './hosted-server.js';

/** What an entry's `${...}` need: names only, never values. */
export interface ServerVariables {
  /** The names its command, args, env values and cwd use, in order of first use. */
  variables: string[];
  /** The env file its values come from first (its `envFile`, else `<home>/env`); null: none. */
  envFile: string | null;
  /** Why it is not started (a variable set nowhere, or an unusable env file; see notStarted); null: it expanded. */
  error: string | null;
  /** When it was expanded (epoch ms): the config load. */
  checkedAt: number;
}

export interface ServersConfig {
  /** Where the servers came from: a file, or 'built-in' (no file). */
  source: string;
  /** Enabled servers that can start, by name, their `${...}` expanded. */
  servers: Record<string, HostedServer>;
  /** Entries with `"disabled": true`. */
  disabled: string[];
  /**
   * Enabled servers whose entry uses `${...}`. One with an `error` is not in `servers` (it does not
   * start); status lists it with that error.
   */
  expansion: Record<string, ServerVariables>;
  warnings: string[];
}

export class ServersConfigError extends Error {
  readonly code = 'ESERVERSCONFIG';
  constructor(
    message: string,
    readonly path: string,
    readonly server?: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ServersConfigError';
  }
}

/** The demo helper, hosted like any configured server when there is no config file. */
export const BUILT_IN_SERVER = 'demo';

/** The host's filters (mcp-host checks them too; checked here so a launcher exits 2 before any spawn). */
const FILTERS = ['tools', 'prompts', 'resources'] as const;
/** Names are URL segments (`/mcp/<name>`): plain characters only. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KNOWN = new Set([
  'command',
  'args',
  'env',
  'cwd',
  'envFile',
  'share',
  'idleMs',
  'maxInstances',
  'serialize',
  'disabled',
  ...FILTERS,
  'requestTimeoutMs',
  'maxTimeoutsInARow',
]);
/** Fields clients write that mean nothing to a host (they stay with the client). */
const CLIENT_ONLY = new Set(['type', 'autoApprove', 'alwaysAllow', 'timeout', 'description', 'transportType']);
const MAX_MS = 2_147_483_647;

const show = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

function fail(path: string, server: string, field: string, must: string, value: unknown): never {
  throw new ServersConfigError(
    `${path}: server "${server}": "${field}" ${must}, got ${show(value)}`,
    path,
    server,
    field,
  );
}

/** An entry as written: its strings not expanded yet, its cwd not resolved yet. */
type WrittenServer = HostedServer & { disabled: boolean; envFile?: string };

function entry(path: string, name: string, raw: unknown, warnings: string[]): WrittenServer {
  if (!NAME.test(name)) {
    throw new ServersConfigError(
      `${path}: server name ${show(name)} must be 1-64 letters, digits, ".", "_" or "-" (it becomes /mcp/<name>)`,
      path,
      name,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ServersConfigError(
      `${path}: server "${name}" must be an object like {"command": "...", "args": []}`,
      path,
      name,
    );
  }
  const e = raw as Record<string, unknown>;
  for (const key of Object.keys(e)) {
    if (KNOWN.has(key)) continue;
    if (key === 'url')
      fail(path, name, 'url', 'is a remote server; the host runs stdio servers only (use "command")', e.url);
    warnings.push(
      CLIENT_ONLY.has(key)
        ? `${path}: server "${name}": "${key}" is a client setting; the host ignores it`
        : `${path}: server "${name}": unknown field "${key}" ignored`,
    );
  }
  if (typeof e.command !== 'string' || e.command.trim() === '')
    fail(path, name, 'command', 'must be a non-empty string', e.command);
  if (e.args !== undefined && !(Array.isArray(e.args) && e.args.every((a) => typeof a === 'string'))) {
    fail(path, name, 'args', 'must be a list of strings', e.args);
  }
  const env = e.env;
  if (
    env !== undefined &&
    (typeof env !== 'object' ||
      env === null ||
      Array.isArray(env) ||
      !Object.values(env).every((v) => typeof v === 'string'))
  ) {
    fail(path, name, 'env', 'must be an object of strings', env);
  }
  if (e.cwd !== undefined && (typeof e.cwd !== 'string' || e.cwd === ''))
    fail(path, name, 'cwd', 'must be a folder path', e.cwd);
  if (e.envFile !== undefined && (typeof e.envFile !== 'string' || e.envFile === ''))
    fail(path, name, 'envFile', 'must be a file path', e.envFile);
  if (e.share !== undefined && e.share !== 'shared' && e.share !== 'per-session') {
    fail(path, name, 'share', 'must be "shared" or "per-session"', e.share);
  }
  for (const field of ['idleMs', 'maxInstances', 'requestTimeoutMs', 'maxTimeoutsInARow'] as const) {
    const value = e[field];
    const min = field === 'maxInstances' ? 1 : 0;
    if (
      value !== undefined &&
      (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > MAX_MS)
    ) {
      fail(path, name, field, `must be an integer from ${min} to ${MAX_MS}`, value);
    }
  }
  if (e.maxInstances !== undefined && e.share !== 'per-session') {
    warnings.push(`${path}: server "${name}": "maxInstances" only applies with "share": "per-session"`);
  }
  for (const field of ['serialize', 'disabled'] as const) {
    if (e[field] !== undefined && typeof e[field] !== 'boolean')
      fail(path, name, field, 'must be true or false', e[field]);
  }
  const server: WrittenServer = {
    command: e.command as string,
    args: [...((e.args as string[] | undefined) ?? [])],
    env: { ...((env as Record<string, string> | undefined) ?? {}) },
    disabled: e.disabled === true,
  };
  if (typeof e.cwd === 'string') server.cwd = e.cwd;
  // A relative path is relative to the file that says it, as a path in any config file is.
  if (typeof e.envFile === 'string') server.envFile = fromFile(path, e.envFile);
  if (e.share !== undefined) server.share = e.share as 'shared' | 'per-session';
  if (e.idleMs !== undefined) server.idleMs = e.idleMs as number;
  if (e.maxInstances !== undefined) server.maxInstances = e.maxInstances as number;
  if (e.serialize !== undefined) server.serialize = e.serialize as boolean;
  for (const field of FILTERS) {
    const filter = e[field] as Record<string, unknown> | undefined;
    if (filter === undefined) continue;
    const keys = typeof filter === 'object' && filter !== null && !Array.isArray(filter) ? Object.keys(filter) : [];
    const list = keys.length === 1 && (keys[0] === 'allow' || keys[0] === 'deny') ? filter[keys[0]] : undefined;
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string' && p !== '')) {
      fail(path, name, field, 'must be {"allow": [...]} or {"deny": [...]} (one of them, of names or * globs)', filter);
    }
    server[field] = filter as FilterSpec;
  }
  if (e.requestTimeoutMs !== undefined) server.requestTimeoutMs = e.requestTimeoutMs as number;
  if (e.maxTimeoutsInARow !== undefined) server.maxTimeoutsInARow = e.maxTimeoutsInARow as number;
  return server;
}

const fromFile = (path: string, file: string) => (isAbsolute(file) ? file : resolve(dirname(path), file));

/** Where `${NAME}` values come from. */
export interface ExpansionSource {
  /** `<home>/env`: the env file of every server without its own `envFile`; a missing one is empty. */
  envFile: string | null;
  /** The worker's own environment, asked after the env file. Default process.env. */
  environment?: Readonly<Record<string, string | undefined>>;
}

/** The sentence for logs, status and `/mcp/<name>`: the server and why it does not start. */
export const notStarted = (name: string, why: string) => `MCP server "${name}" is not started: ${why}`;

/** `${NAME}` as the user wrote it (a name, never a value). */
const shown = (name: string) => `$${'{'}${name}}`;
const list = (names: string[]) =>
  names.length === 1
    ? `${shown(names[0]!)} is`
    : `${names.slice(0, -1).map(shown).join(', ')} and ${shown(names.at(-1)!)} are`;

/**
 * Expands one entry. Env files are read once per load (`files`), only for entries that use
 * `${...}`: a server without variables never depends on one.
 */
function expandServer(
  written: WrittenServer,
  source: ExpansionSource,
  files: Map<string, Map<string, string> | EnvFileError>,
): { server: HostedServer | null; variables: ServerVariables | null } {
  const { disabled: _disabled, envFile: ownFile, ...server } = written;
  const fields = [server.command, ...server.args, ...Object.values(server.env), server.cwd ?? ''];
  const uses = mergeUses(fields.map(variablesIn));
  if (uses.length === 0) return { server, variables: null };
  const envFile = ownFile ?? source.envFile;
  const variables: ServerVariables = {
    variables: uses.map((u) => u.name),
    envFile,
    error: null,
    checkedAt: Date.now(),
  };
  const refuse = (why: string) => {
    variables.error = why;
    return { server: null, variables };
  };
  let values: Map<string, string> | EnvFileError = new Map();
  if (envFile !== null) {
    values = files.get(envFile) ?? new Map();
    if (!files.has(envFile)) {
      try {
        values = readEnvFile(envFile, { required: ownFile !== undefined });
      } catch (error) {
        if (!(error instanceof EnvFileError)) throw error;
        values = error;
      }
      files.set(envFile, values);
    }
  }
  if (values instanceof EnvFileError) return refuse(`it uses ${shown(uses[0]!.name)}, but ${values.message}`);
  const environment = source.environment ?? process.env;
  const file = values;
  // Own keys only: `${constructor}` must not find Object.prototype's.
  const lookup = (key: string) => file.get(key) ?? (Object.hasOwn(environment, key) ? environment[key] : undefined);
  const missing: string[] = [];
  const expand = (text: string) => {
    const result = expandVariables(text, lookup);
    for (const m of result.missing) if (!missing.includes(m)) missing.push(m);
    return result.value;
  };
  const expanded: HostedServer = {
    ...server,
    command: expand(server.command),
    args: server.args.map(expand),
    env: Object.fromEntries(Object.entries(server.env).map(([key, value]) => [key, expand(value)])),
  };
  if (server.cwd !== undefined) expanded.cwd = expand(server.cwd);
  if (missing.length > 0) {
    const where = envFile === null ? "the worker's environment" : `${envFile} nor in the worker's environment`;
    return refuse(
      `${list(missing)} not set (not in ${where}); define ${missing.length === 1 ? 'it' : 'them'}${envFile === null ? '' : ` in ${envFile}`} and reload`,
    );
  }
  if (expanded.command.trim() === '') return refuse(`"command" is empty once its ${shown('...')} are expanded`);
  if (expanded.cwd === '') return refuse(`"cwd" is empty once its ${shown('...')} are expanded`);
  return { server: expanded, variables };
}

/** Parses a servers file's text; throws ServersConfigError naming what is wrong. */
export function parseServersConfig(
  path: string,
  text: string,
  source: ExpansionSource = { envFile: null },
): ServersConfig {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ServersConfigError(`${path} is not valid JSON: ${(error as Error).message}`, path);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new ServersConfigError(`${path} must be a JSON object like {"mcpServers": {...}}`, path);
  }
  const top = data as Record<string, unknown>;
  const table = top.mcpServers;
  if (typeof table !== 'object' || table === null || Array.isArray(table)) {
    throw new ServersConfigError(`${path}: "mcpServers" must be an object of servers, got ${show(table)}`, path);
  }
  const warnings: string[] = [];
  for (const key of Object.keys(top))
    if (key !== 'mcpServers') warnings.push(`${path}: top-level field "${key}" ignored`);
  const servers: Record<string, HostedServer> = {};
  const disabled: string[] = [];
  const expansion: Record<string, ServerVariables> = {};
  const files = new Map<string, Map<string, string> | EnvFileError>();
  for (const [name, raw] of Object.entries(table)) {
    const written = entry(path, name, raw, warnings);
    if (written.disabled) {
      disabled.push(name);
      continue;
    }
    const { server, variables } = expandServer(written, source, files);
    if (variables) expansion[name] = variables;
    else if (written.envFile !== undefined)
      warnings.push(`${path}: server "${name}": "envFile" is not read: the entry uses no ${shown('...')}`);
    if (variables?.error) warnings.push(`${path}: ${notStarted(name, variables.error)}`);
    if (!server) continue;
    // A relative cwd is relative to the file that says it (after expansion: `${ROOT:-.}/app`).
    if (server.cwd !== undefined) server.cwd = fromFile(path, server.cwd);
    servers[name] = server;
  }
  return { source: path, servers, disabled, expansion, warnings };
}

export interface LoadServersOptions {
  /** An explicit file (--config / SPAWNGUARD_CONFIG): it must exist. */
  explicit: string | null;
  /** `<home>/servers.json`: optional. */
  homeFile: string;
  /** The built-in server, used when there is no file at all. */
  builtIn: () => HostedServer;
  /** Where `${NAME}` values come from (default: no env file, process.env). */
  expansion?: ExpansionSource;
}

export function loadServersConfig({ explicit, homeFile, builtIn, expansion }: LoadServersOptions): ServersConfig {
  const path = explicit ?? homeFile;
  let text: string;
  try {
    // A user's config, possibly edited by hand: ours (owner) is enough, any mode; never a FIFO or a link.
    text = readStateFileSync(path, { maxBytes: 4 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof StateFileError && error.reason === 'missing' && explicit === null) {
      return {
        source: 'built-in',
        servers: { [BUILT_IN_SERVER]: builtIn() },
        disabled: [],
        expansion: {},
        warnings: [],
      };
    }
    throw new ServersConfigError(`cannot read the servers config: ${(error as Error).message}`, path);
  }
  return parseServersConfig(path, text, expansion);
}

/**
 * The daemon's servers: --config / SPAWNGUARD_CONFIG, else <home>/servers.json, else the built-in
 * one; `${NAME}` from <home>/env (or a server's envFile), then this process's environment.
 */
export function readServers(config: Config, paths: Pick<HomePaths, 'servers' | 'envFile'>): ServersConfig {
  return loadServersConfig({
    explicit: config.configFile,
    homeFile: paths.servers,
    builtIn: () => builtInServer(config),
    expansion: { envFile: paths.envFile },
  });
}
