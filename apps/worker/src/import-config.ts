/**
 * `import`: turn an editor's MCP config into the host's servers.json plus a client config whose
 * entries launch the stdio bridge instead of the server. Pure: no files, no processes; the command
 * (import-command.ts) reads and writes. Entries that cannot be moved faithfully are left exactly as
 * they are and listed with the reason.
 *
 * Formats (all keep servers under "mcpServers"):
 *   claude-desktop  claude_desktop_config.json: { mcpServers: { name: { command, args?, env? } } }
 *   claude-code     .mcp.json (project) and ~/.claude.json (user: top-level mcpServers, and
 *                   projects["<folder>"].mcpServers): stdio entries may say "type": "stdio";
 *                   "http"/"sse" entries have a url
 *   cursor          ~/.cursor/mcp.json and <project>/.cursor/mcp.json: stdio { command, args?, env?,
 *                   envFile? } or remote { url, headers? }
 */
import { basename, dirname, resolve, sep } from 'node:path';

export type ClientFormat = 'claude-desktop' | 'claude-code' | 'cursor';
export const CLIENT_FORMATS: readonly ClientFormat[] = ['claude-desktop', 'claude-code', 'cursor'];

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

export interface ImportPlan {
  format: ClientFormat;
  /** servers.json after the import: the existing one's servers plus the moved ones. */
  servers: { mcpServers: Record<string, HostServer> };
  /** The client's config with moved entries replaced by bridge launches; everything else untouched. */
  client: Record<string, unknown>;
  moved: string[];
  leftAlone: LeftAlone[];
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

export function detectFormat(path: string, data: unknown): ClientFormat | null {
  const name = basename(path);
  if (name === 'claude_desktop_config.json') return 'claude-desktop';
  if (name === '.claude.json' || name === '.mcp.json') return 'claude-code';
  if (name === 'mcp.json' && basename(dirname(resolve(path))) === '.cursor') return 'cursor';
  if (isObject(data) && isObject(data.projects)) return 'claude-code';
  return null;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

const isStringRecord = (value: unknown): value is Record<string, string> =>
  isObject(value) && Object.values(value).every((v) => typeof v === 'string');

/** Keys the host takes over; every other key of a client entry stays on the bridge entry. */
const HOST_KEYS = new Set(['command', 'args', 'env', 'cwd', 'type']);

/** Why an entry cannot be moved, or null when it can. */
function unmovable(name: string, entry: unknown, isBridge: (e: Record<string, unknown>) => boolean): string | null {
  if (!SERVER_NAME.test(name)) return `its name is not usable as a host server name (letters, digits, ".", "_", "-")`;
  if (!isObject(entry)) return 'it is not an object';
  if (isBridge(entry)) return 'it already launches the spawnguard bridge';
  if (
    typeof entry.url === 'string' ||
    entry.type === 'http' ||
    entry.type === 'sse' ||
    entry.type === 'streamable-http'
  ) {
    return 'it is a remote server (url): there is no process to share';
  }
  if (entry.type !== undefined && entry.type !== 'stdio') return `its type ${JSON.stringify(entry.type)} is not stdio`;
  if (typeof entry.command !== 'string' || entry.command.trim() === '') return 'it has no "command"';
  if (entry.args !== undefined && !isStringArray(entry.args)) return '"args" is not a list of strings';
  if (entry.env !== undefined && !isStringRecord(entry.env)) return '"env" is not an object of strings';
  if (entry.cwd !== undefined && typeof entry.cwd !== 'string') return '"cwd" is not a string';
  if (entry.envFile !== undefined) return 'it reads "envFile", which only the client loads';
  const text = JSON.stringify([entry.command, entry.args ?? [], entry.env ?? {}, entry.cwd ?? '']);
  if (text.includes('${')) return 'it uses $' + '{...} expansion, which only the client performs';
  return null;
}

function hostServer(entry: Record<string, unknown>, defaultCwd: string | undefined): HostServer {
  const server: HostServer = { command: entry.command as string };
  if (Array.isArray(entry.args) && entry.args.length > 0) server.args = [...(entry.args as string[])];
  if (isObject(entry.env) && Object.keys(entry.env).length > 0)
    server.env = { ...(entry.env as Record<string, string>) };
  const cwd = (entry.cwd as string | undefined) ?? defaultCwd;
  if (cwd !== undefined) server.cwd = cwd;
  if (entry.disabled === true) server.disabled = true;
  return server;
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

export interface PlanInput {
  path: string;
  data: unknown;
  format: ClientFormat;
  /** The home's current servers.json, if any. */
  existing?: { mcpServers: Record<string, HostServer> } | undefined;
  bridge: BridgeLaunch;
}

/** Builds the plan; throws ImportError when the file has no usable shape at all. */
export function planImport({ path, data, format, existing, bridge }: PlanInput): ImportPlan {
  if (!isObject(data)) throw new ImportError(`${path} is not a JSON object`, path);
  const client = structuredClone(data) as Record<string, unknown>;
  const servers: Record<string, HostServer> = { ...(existing?.mcpServers ?? {}) };
  const moved: string[] = [];
  const leftAlone: LeftAlone[] = [];
  const isBridge = (entry: Record<string, unknown>) =>
    entry.command === bridge.command &&
    isStringArray(entry.args) &&
    bridge.argsBefore.every((arg, i) => (entry.args as string[])[i] === arg);

  // Where the client starts a project's servers: the project folder. A user-level config says nothing.
  const folder = dirname(resolve(path));
  const projectCwd =
    basename(path) === '.mcp.json'
      ? folder
      : format === 'cursor' && folder !== resolve(process.env.HOME ?? '~', '.cursor')
        ? dirname(folder)
        : undefined;

  const visit = (table: unknown, label: (name: string) => string, cwd: string | undefined) => {
    if (table === undefined) return;
    if (!isObject(table)) {
      leftAlone.push({ where: label('mcpServers'), reason: '"mcpServers" is not an object' });
      return;
    }
    for (const [name, entry] of Object.entries(table)) {
      const why = unmovable(name, entry, isBridge);
      if (why) {
        leftAlone.push({ where: label(name), reason: why });
        continue;
      }
      const record = entry as Record<string, unknown>;
      const server = hostServer(record, cwd);
      const taken = servers[name];
      if (taken && !sameServer(taken, server)) {
        leftAlone.push({ where: label(name), reason: `the host already has a different server named "${name}"` });
        continue;
      }
      servers[name] = server;
      const kept = Object.fromEntries(Object.entries(record).filter(([key]) => !HOST_KEYS.has(key)));
      table[name] = {
        ...(format === 'claude-code' ? { type: 'stdio' } : {}),
        command: bridge.command,
        args: [...bridge.argsBefore, name, ...bridge.argsAfter],
        ...kept,
      };
      moved.push(label(name));
    }
  };

  const top = (name: string) => name;
  visit(client.mcpServers, top, projectCwd);
  if (format === 'claude-code' && isObject(client.projects)) {
    for (const [project, settings] of Object.entries(client.projects)) {
      if (!isObject(settings)) continue;
      const where = (name: string) => `${name} in projects[${JSON.stringify(project)}]`;
      visit(settings.mcpServers, where, project.includes(sep) || project.startsWith('/') ? project : undefined);
    }
  }
  if (client.mcpServers === undefined && !(format === 'claude-code' && isObject(client.projects))) {
    throw new ImportError(`${path} has no "mcpServers" object: is it a ${format} MCP config?`, path);
  }
  return { format, servers: { mcpServers: servers }, client, moved, leftAlone };
}
