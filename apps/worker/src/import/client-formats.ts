/**
 * What each MCP client's config looks like, as far as `import` needs it: how to recognize the file,
 * where its servers are, which entry keys the host takes over, what a remote entry looks like, what
 * the bridge entry must say, which folder a project's servers run in, and how the client reads
 * `${...}` (so a moved entry means on the host what it meant in the client, or is left alone).
 *
 *   claude-desktop  claude_desktop_config.json: { mcpServers: { name: { command, args?, env? } } }.
 *                   `${...}` reaches the server as written: an entry with one is left alone (the host
 *                   would expand it).
 *   claude-code     .mcp.json (project) and ~/.claude.json (user: top-level mcpServers, and
 *                   projects["<folder>"].mcpServers); stdio entries may say "type": "stdio", "http" /
 *                   "sse" entries have a url. `${VAR}` / `${VAR:-default}` are the host's own syntax
 *                   (var-expansion.ts): kept verbatim.
 *   cursor          ~/.cursor/mcp.json and <project>/.cursor/mcp.json: stdio { command, args?, env?,
 *                   envFile? } or remote { url, headers? }. Variables are VS Code's (below).
 *   vscode          <project>/.vscode/mcp.json and the user's mcp.json: { inputs?: [...], servers: {
 *                   name: { type: "stdio", command, args?, env?, envFile?, cwd? } | { type: "http" |
 *                   "sse", url, headers? } } }. `${env:NAME}` becomes the host's `${NAME}`;
 *                   `${userHome}`, `${workspaceFolder}`, `${workspaceFolderBasename}`,
 *                   `${pathSeparator}` and `${/}` are written out (the folder is known from the file);
 *                   `${input:id}` (VS Code prompts for it) and any other `${...}` leave the entry alone.
 *                   VS Code expands an unset `${env:NAME}` to nothing; the host refuses to start a
 *                   server whose NAME is set nowhere (define it in the env file).
 *   gemini          ~/.gemini/settings.json and <project>/.gemini/settings.json: mcpServers { name: {
 *                   command, args?, env?, cwd?, timeout?, trust?, includeTools?, excludeTools?, ... } |
 *                   { url, type?: "sse" | "http", headers? } | { httpUrl, headers? } }. Gemini expands
 *                   `$NAME`, `${NAME}` and `${NAME:-default}` in every string: the last two are the
 *                   host's syntax (kept verbatim); a bare `$NAME`, or a default holding `:-` (Gemini
 *                   keeps all of it, the host only up to that), leaves the entry alone.
 *   codex           ~/.codex/config.toml and <project>/.codex/config.toml: [mcp_servers.<name>] with
 *                   command, args?, env?, env_vars? (names forwarded from Codex's environment: they
 *                   become `env.NAME = "${NAME}"`), cwd?, enabled?, startup_timeout_sec?, ... or url
 *                   (streamable HTTP). Codex passes `${...}` as written: such an entry is left alone.
 */
import { homedir } from 'node:os';
import { basename, dirname, resolve, sep } from 'node:path';
import { ENV_NAME } from '../config/env-file.js';
import { expressionsIn, rewriteExpressions } from '../config/var-expansion.js';

export type ClientFormat = 'claude-desktop' | 'claude-code' | 'cursor' | 'vscode' | 'gemini' | 'codex';
export const CLIENT_FORMATS: readonly ClientFormat[] = [
  'claude-desktop',
  'claude-code',
  'cursor',
  'vscode',
  'gemini',
  'codex',
];

export type Syntax = 'json' | 'toml';

type Entry = Record<string, unknown>;

export interface FileContext {
  /** The config file, absolute. */
  path: string;
  /** The user's home folder (where user-level configs live). */
  userHome: string;
  /** Codex's own folder ($CODEX_HOME, else ~/.codex): its config.toml is user-level. */
  codexHome: string;
}

/** A rewritten string, or why the entry cannot be moved. */
export type Translation = { text: string } | { reason: string };

export interface ClientRules {
  /** For messages: "Gemini CLI". */
  title: string;
  syntax: Syntax;
  /** The key of the server table. */
  table: 'mcpServers' | 'servers' | 'mcp_servers';
  /** Keys the host takes over; every other key of an entry stays on the bridge entry. */
  hostKeys: ReadonlySet<string>;
  /** Keys the bridge entry starts with (before command and args). */
  bridgeHead: Readonly<Entry>;
  /** Why the entry is a remote server (no process to share), or null. */
  remote(entry: Entry): string | null;
  /** How this client reads `${...}` (and `$NAME`) in a string, as the host would have to. */
  variables(text: string, context: FileContext): Translation;
  /** The folder this file's servers start in (a project's), or undefined (user-level: the client's own cwd). */
  projectFolder(context: FileContext): string | undefined;
  /** Extra host-side fields from client-only forms (Codex's env_vars, enabled = false), or why not. */
  extra?(entry: Entry): { env?: Record<string, string>; disabled?: boolean } | { reason: string };
}

const isObject = (value: unknown): value is Entry =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const keys = (...names: string[]) => new Set(names);
const HOST = ['command', 'args', 'env', 'cwd'];
const $ = (body: string) => `$${'{'}${body}}`;

function remoteByUrl(entry: Entry): string | null {
  for (const key of ['url', 'httpUrl', 'serverUrl']) {
    if (typeof entry[key] === 'string') return `it is a remote server (${key}): there is no process to share`;
  }
  if (entry.type === 'http' || entry.type === 'sse' || entry.type === 'streamable-http')
    return `it is a remote server (type ${JSON.stringify(entry.type)}): there is no process to share`;
  return null;
}

/** The folder holding `<folder>/<dot>/<file>`, unless `<dot>` is the user's own one (user-level config). */
function projectOf(context: FileContext, dot: string): string | undefined {
  const folder = dirname(context.path);
  if (basename(folder) !== dot) return undefined;
  if (folder === resolve(context.userHome, dot)) return undefined;
  return dirname(folder);
}

/** `${...}` means nothing to the client: an entry using it would change meaning on the host. */
const literal =
  (title: string) =>
  (text: string): Translation => {
    const [first] = expressionsIn(text);
    return first
      ? { reason: `${title} passes ${first.expression} to the server as written, and the host would expand it` }
      : { text };
  };

/** VS Code's (and Cursor's) `${...}` variables, written as the host reads them. */
function vscodeVariables(title: string, project: (context: FileContext) => string | undefined) {
  return (text: string, context: FileContext): Translation => {
    let reason: string | null = null;
    const folder = project(context);
    const out = rewriteExpressions(text, (body) => {
      if (body.startsWith('env:') && ENV_NAME.test(body.slice(4))) return $(body.slice(4));
      if (body === 'userHome') return context.userHome;
      if (body === 'pathSeparator' || body === '/') return sep;
      if ((body === 'workspaceFolder' || body === 'workspaceFolderBasename') && folder !== undefined)
        return body === 'workspaceFolder' ? folder : basename(folder);
      reason ??= body.startsWith('input:')
        ? `it uses ${$(body)}, which ${title} asks the user for: the host has no value for it`
        : `it uses ${$(body)}, which only ${title} can expand${folder === undefined && body.startsWith('workspaceFolder') ? ' (a user-level config has no workspace folder)' : ''}`;
      return $(body);
    });
    return reason === null ? { text: out } : { reason };
  };
}

function geminiVariables(text: string): Translation {
  const bare = /\$(\w+)/.exec(text.replace(/\$\{[^}]*\}/g, ''));
  if (bare) {
    return {
      reason: `it uses $${bare[1]}, which Gemini CLI expands and the host does not: write it ${$(bare[1]!)} in the Gemini settings and import again`,
    };
  }
  const deep = expressionsIn(text).find(({ body }) => body.split(':-').length > 2);
  if (deep) {
    return {
      reason: `the default in ${deep.expression} holds ":-": Gemini CLI keeps all of it, the host only what comes before it`,
    };
  }
  return { text };
}

function codexExtra(entry: Entry): { env?: Record<string, string>; disabled?: boolean } | { reason: string } {
  const extra: { env?: Record<string, string>; disabled?: boolean } = {};
  if (entry.enabled !== undefined && typeof entry.enabled !== 'boolean')
    return { reason: '"enabled" is not true or false' };
  if (entry.enabled === false) extra.disabled = true;
  if (entry.env_vars === undefined) return extra;
  if (!Array.isArray(entry.env_vars)) return { reason: '"env_vars" is not a list' };
  const env: Record<string, string> = {};
  for (const item of entry.env_vars) {
    const name =
      typeof item === 'string' ? item : isObject(item) && Object.keys(item).join() === 'name' ? item.name : null;
    if (typeof name !== 'string' || !ENV_NAME.test(name))
      return { reason: `"env_vars" holds ${JSON.stringify(item)}, not a variable name the host can forward` };
    if (isObject(entry.env) && Object.hasOwn(entry.env, name))
      return { reason: `${name} is both in "env" and in "env_vars"` };
    env[name] = $(name);
  }
  extra.env = env;
  return extra;
}

export const CLIENTS: Readonly<Record<ClientFormat, ClientRules>> = {
  'claude-desktop': {
    title: 'Claude Desktop',
    syntax: 'json',
    table: 'mcpServers',
    hostKeys: keys(...HOST, 'type'),
    bridgeHead: {},
    remote: remoteByUrl,
    variables: literal('Claude Desktop'),
    projectFolder: () => undefined,
  },
  'claude-code': {
    title: 'Claude Code',
    syntax: 'json',
    table: 'mcpServers',
    hostKeys: keys(...HOST, 'type'),
    bridgeHead: { type: 'stdio' },
    remote: remoteByUrl,
    // The host's own syntax: kept verbatim.
    variables: (text) => ({ text }),
    projectFolder: (context) => (basename(context.path) === '.mcp.json' ? dirname(context.path) : undefined),
  },
  cursor: {
    title: 'Cursor',
    syntax: 'json',
    table: 'mcpServers',
    hostKeys: keys(...HOST, 'type'),
    bridgeHead: {},
    remote: remoteByUrl,
    variables: vscodeVariables('Cursor', (context) => projectOf(context, '.cursor')),
    projectFolder: (context) => projectOf(context, '.cursor'),
  },
  vscode: {
    title: 'VS Code',
    syntax: 'json',
    table: 'servers',
    hostKeys: keys(...HOST, 'type'),
    bridgeHead: { type: 'stdio' },
    remote: remoteByUrl,
    variables: vscodeVariables('VS Code', (context) => projectOf(context, '.vscode')),
    projectFolder: (context) => projectOf(context, '.vscode'),
  },
  gemini: {
    title: 'Gemini CLI',
    syntax: 'json',
    table: 'mcpServers',
    hostKeys: keys(...HOST),
    bridgeHead: {},
    remote: remoteByUrl,
    variables: geminiVariables,
    projectFolder: (context) => projectOf(context, '.gemini'),
  },
  codex: {
    title: 'Codex',
    syntax: 'toml',
    table: 'mcp_servers',
    hostKeys: keys(...HOST, 'env_vars'),
    bridgeHead: {},
    remote: remoteByUrl,
    variables: literal('Codex'),
    projectFolder: (context) =>
      dirname(context.path) === resolve(context.codexHome) ? undefined : projectOf(context, '.codex'),
    extra: codexExtra,
  },
};

/** The client that wrote `path`, from its name and folder first, then from its content; null: cannot tell. */
export function detectFormat(path: string, data: unknown): ClientFormat | null {
  const name = basename(path);
  const folder = basename(dirname(resolve(path)));
  if (name === 'claude_desktop_config.json') return 'claude-desktop';
  if (name === '.claude.json' || name === '.mcp.json') return 'claude-code';
  if (name === 'mcp.json' && folder === '.cursor') return 'cursor';
  if (name === 'mcp.json' && folder === '.vscode') return 'vscode';
  if (name === 'settings.json' && folder === '.gemini') return 'gemini';
  if (name === 'config.toml' && folder === '.codex') return 'codex';
  if (!isObject(data)) return null;
  if (isObject(data.projects)) return 'claude-code';
  if (name.endsWith('.toml') && isObject(data.mcp_servers)) return 'codex';
  if (isObject(data.servers) && data.mcpServers === undefined) return 'vscode';
  return null;
}

/** How a file is parsed: TOML by its extension or when the format is Codex, else JSON. */
export function syntaxOf(path: string, format?: ClientFormat): Syntax {
  if (format) return CLIENTS[format].syntax;
  return path.endsWith('.toml') ? 'toml' : 'json';
}

/** Where user-level configs are: $HOME (what the clients themselves read), else the OS's idea. */
export function userContext(path: string, env: NodeJS.ProcessEnv = process.env): FileContext {
  const userHome = env.HOME || homedir();
  return { path: resolve(path), userHome, codexHome: env.CODEX_HOME || resolve(userHome, '.codex') };
}
