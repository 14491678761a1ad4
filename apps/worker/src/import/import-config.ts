/**
 * `import`: turn an MCP client's config into the host's servers.json plus a client config whose
 * entries launch the stdio bridge instead of the server. Pure: no files, no processes; the command
 * (import-command.ts) reads and writes, client-file.ts parses and re-serializes, client-formats.ts
 * knows each client. Entries that cannot be moved faithfully are left exactly as they are and listed
 * with the reason.
 *
 * `${VAR}` / `${VAR:-default}` a moved entry uses (in the client's own form, translated by
 * client-formats.ts) are written to servers.json as expressions, never as values: the host expands
 * them when it loads its config, from its env file. The plan lists which variables that file must
 * define.
 */
import { isAbsolute, resolve } from 'node:path';
import { mergeUses, type VariableUse, variablesIn } from '../config/var-expansion.js';
import { CLIENTS, type ClientFormat, type FileContext } from './client-formats.js';

/** What the host runs for one server (servers.json). */
export interface HostServer {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  disabled?: boolean;
}

export interface LeftAlone {
  /** `name`, or `name` in `projects["/folder"]` for Claude Code's per-project entries. */
  where: string;
  reason: string;
}

export interface NeededVariable extends VariableUse {
  /** The moved servers (`where`) that use it. */
  servers: string[];
}

export interface ImportPlan {
  format: ClientFormat;
  /** servers.json after the import: the existing one's servers plus the moved ones. */
  servers: { mcpServers: Record<string, HostServer> };
  /** The client's config with moved entries replaced by bridge launches; everything else untouched. */
  client: Record<string, unknown>;
  moved: string[];
  leftAlone: LeftAlone[];
  /** The variables the moved entries use (names only): without a default, the env file must define them. */
  variables: NeededVariable[];
}

export interface BridgeLaunch {
  command: string;
  /** Arguments before the server's name, e.g. [cli.js, 'mcp']; flags after it. */
  argsBefore: string[];
  argsAfter: string[];
}

export class ImportError extends Error {
  readonly code = 'EIMPORT';
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'ImportError';
  }
}

/** Server names become URL path segments (/mcp/<name>) and file keys: keep them plain. */
export const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

type Entry = Record<string, unknown>;

const isObject = (value: unknown): value is Entry =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

const isStringRecord = (value: unknown): value is Record<string, string> =>
  isObject(value) && Object.values(value).every((v) => typeof v === 'string');

/** The host entry for a client entry, or why it cannot be moved faithfully. */
function hostEntry(
  name: string,
  entry: unknown,
  format: ClientFormat,
  context: FileContext,
  defaultCwd: string | undefined,
  isBridge: (e: Entry) => boolean,
): HostServer | { reason: string } {
  const rules = CLIENTS[format];
  const no = (reason: string) => ({ reason });
  if (!SERVER_NAME.test(name))
    return no('its name is not usable as a host server name (letters, digits, ".", "_", "-")');
  if (!isObject(entry)) return no('it is not an object');
  if (isBridge(entry)) return no('it already launches the spawnguard bridge');
  const remote = rules.remote(entry);
  if (remote) return no(remote);
  if (entry.type !== undefined && entry.type !== 'stdio')
    return no(`its type ${JSON.stringify(entry.type)} is not stdio`);
  if (typeof entry.command !== 'string' || entry.command.trim() === '') return no('it has no "command"');
  if (entry.args !== undefined && !isStringArray(entry.args)) return no('"args" is not a list of strings');
  if (entry.env !== undefined && !isStringRecord(entry.env)) return no('"env" is not an object of strings');
  if (entry.cwd !== undefined && typeof entry.cwd !== 'string') return no('"cwd" is not a string');
  if (entry.envFile !== undefined) return no('it reads "envFile", which only the client loads');
  const extra = rules.extra?.(entry) ?? {};
  if ('reason' in extra) return no(extra.reason);

  // Every string the host would expand, in the client's reading of `${...}`.
  let why: string | null = null;
  const translate = (text: string) => {
    const result = rules.variables(text, context);
    if ('reason' in result) {
      why ??= result.reason;
      return text;
    }
    return result.text;
  };
  const server: HostServer = { command: translate(entry.command) };
  if (isStringArray(entry.args) && entry.args.length > 0) server.args = entry.args.map(translate);
  const env = { ...(isObject(entry.env) ? (entry.env as Record<string, string>) : {}) };
  for (const key of Object.keys(env)) env[key] = translate(env[key]!);
  Object.assign(env, extra.env);
  if (Object.keys(env).length > 0) server.env = env;
  let cwd = typeof entry.cwd === 'string' ? translate(entry.cwd) : defaultCwd;
  // A relative cwd is relative to where the client runs: the project, or (user-level) unknown. On the
  // host it would be relative to servers.json, so it is written out, or the entry left alone.
  if (cwd !== undefined && !isAbsolute(cwd) && !cwd.includes('$' + '{')) {
    if (defaultCwd === undefined)
      return no(`its relative "cwd" (${JSON.stringify(cwd)}) depends on the folder ${rules.title} runs in`);
    cwd = resolve(defaultCwd, cwd);
  }
  if (cwd !== undefined) server.cwd = cwd;
  if (entry.disabled === true || extra.disabled) server.disabled = true;
  return why ? no(why) : server;
}

const sameServer = (a: HostServer, b: HostServer) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (!isObject(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sorted(value[k])]),
  );
}

const usesOf = (server: HostServer) =>
  mergeUses(
    [server.command, ...(server.args ?? []), ...Object.values(server.env ?? {}), server.cwd ?? ''].map(variablesIn),
  );

export interface PlanInput {
  context: FileContext;
  data: unknown;
  format: ClientFormat;
  /** The home's current servers.json, if any. */
  existing?: { mcpServers: Record<string, HostServer> } | undefined;
  bridge: BridgeLaunch;
}

/** Builds the plan; throws ImportError when the file has no usable shape at all. */
export function planImport({ context, data, format, existing, bridge }: PlanInput): ImportPlan {
  const { path } = context;
  const rules = CLIENTS[format];
  const kind = rules.syntax === 'toml' ? 'table' : 'object';
  if (!isObject(data)) throw new ImportError(`${path} is not a JSON object`, path);
  // Only the tables that change are copied: everything else is the parsed value itself (a TOML date
  // stays a TOML date), so what was not moved is written back as it was read.
  const client: Entry = { ...data };
  const servers: Record<string, HostServer> = { ...(existing?.mcpServers ?? {}) };
  const moved: string[] = [];
  const leftAlone: LeftAlone[] = [];
  const variables: NeededVariable[] = [];
  const isBridge = (entry: Entry) =>
    entry.command === bridge.command &&
    isStringArray(entry.args) &&
    bridge.argsBefore.every((arg, i) => (entry.args as string[])[i] === arg);

  const visit = (owner: Entry, label: (name: string) => string, cwd: string | undefined) => {
    const table = owner[rules.table];
    if (table === undefined) return;
    if (!isObject(table)) {
      leftAlone.push({
        where: label(rules.table),
        reason: `"${rules.table}" is not ${kind === 'table' ? 'a table' : 'an object'}`,
      });
      return;
    }
    const copy: Entry = { ...table };
    owner[rules.table] = copy;
    for (const [name, entry] of Object.entries(table)) {
      const server = hostEntry(name, entry, format, context, cwd, isBridge);
      if ('reason' in server) {
        leftAlone.push({ where: label(name), reason: server.reason });
        continue;
      }
      const taken = servers[name];
      if (taken && !sameServer(taken, server)) {
        leftAlone.push({ where: label(name), reason: `the host already has a different server named "${name}"` });
        continue;
      }
      servers[name] = server;
      const kept = Object.fromEntries(Object.entries(entry as Entry).filter(([key]) => !rules.hostKeys.has(key)));
      copy[name] = {
        ...rules.bridgeHead,
        command: bridge.command,
        args: [...bridge.argsBefore, name, ...bridge.argsAfter],
        ...kept,
      };
      moved.push(label(name));
      for (const use of usesOf(server)) {
        const seen = variables.find((v) => v.name === use.name);
        if (!seen) variables.push({ ...use, servers: [label(name)] });
        else {
          seen.servers.push(label(name));
          if (!use.hasDefault) seen.hasDefault = false;
        }
      }
    }
  };

  visit(client, (name) => name, rules.projectFolder(context));
  if (format === 'claude-code' && isObject(client.projects)) {
    const projects: Entry = { ...client.projects };
    client.projects = projects;
    for (const [project, settings] of Object.entries(projects)) {
      if (!isObject(settings)) continue;
      const owner: Entry = { ...settings };
      projects[project] = owner;
      const where = (name: string) => `${name} in projects[${JSON.stringify(project)}]`;
      // A project's server runs in its project folder, as Claude Code would start it.
      visit(owner, where, project.startsWith('/') || /^[A-Za-z]:[\\/]/.test(project) ? project : undefined);
    }
  }
  if (client[rules.table] === undefined && !(format === 'claude-code' && isObject(client.projects))) {
    throw new ImportError(`${path} has no "${rules.table}" ${kind}: is it a ${rules.title} MCP config?`, path);
  }
  return { format, servers: { mcpServers: servers }, client, moved, leftAlone, variables };
}
