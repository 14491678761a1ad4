// Test helpers: real MCP servers from npm started by their bin with process.execPath, SDK clients
// over Streamable HTTP against a node:http server on 127.0.0.1:0 that calls the host's handler.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { Clock, McpHost, ServerConfig } from '../src/index.js';

const require = createRequire(import.meta.url);
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The bin script of an npm package, resolved through its package.json (never npx). */
export function binOf(pkg: string): string {
  const manifest = require.resolve(`${pkg}/package.json`);
  const { bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { bin: string | Record<string, string> };
  return join(dirname(manifest), typeof bin === 'string' ? bin : Object.values(bin)[0]!);
}

/**
 * @modelcontextprotocol/server-everything over stdio. Tools used here (2026.8.31):
 * - echo { message }
 * - get-sum { a, b }
 * - get-env {}  (returns its process.env as JSON text)
 * - trigger-long-running-operation { duration (s), steps }: progress per step when _meta.progressToken is set
 * - trigger-sampling-request { prompt, maxTokens }: sends sampling/createMessage (registered only when the
 *   client declared sampling; the host always declares it to a shared backend)
 * - trigger-elicitation-request {}: sends elicitation/create (form); registered when elicitation is declared
 * - get-roots-list {}: roots/list to the client (registered when roots is declared); it caches per transport session
 * - toggle-simulated-logging {}, toggle-subscriber-updates {}: 5 s timers
 * Resources demo://resource/static/document/*.md, templates demo://resource/dynamic/{text,blob}/{id};
 * prompts simple-prompt, args-prompt { city, state }, completable-prompt, resource-prompt.
 * It ignores argv after the transport name, so the marker rides there.
 */
export function everything(marker: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  return {
    command: process.execPath,
    args: [binOf('@modelcontextprotocol/server-everything'), 'stdio', marker],
    ...extra,
  };
}

/** @modelcontextprotocol/server-memory: tools create_entities, read_graph, search_nodes {query}, ...; file in MEMORY_FILE_PATH. */
export function memory(marker: string, file: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  return {
    command: process.execPath,
    args: [binOf('@modelcontextprotocol/server-memory'), marker],
    env: { MEMORY_FILE_PATH: file },
    ...extra,
  };
}

/** Our recording fixture (see fixtures/recorder.mjs). */
export function recorder(
  marker: string,
  recordFile: string,
  flags: string[] = [],
  extra: Partial<ServerConfig> = {},
): ServerConfig {
  return {
    command: process.execPath,
    args: [join(FIXTURES, 'recorder.mjs'), marker, ...flags],
    env: { RECORD_FILE: recordFile },
    ...extra,
  };
}

/** Every message the recorder received, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: recorded JSON, read by the tests
type Recorded = { id?: unknown; method?: string; params?: any; result?: unknown; error?: unknown };
export function recorded(file: string): Recorded[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {}
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

export interface HttpFront {
  url(server: string): URL;
  server: Server;
  close(): Promise<void>;
}

/** node:http on 127.0.0.1:0 routing /mcp/<name> to the host. */
export async function serveHost(host: McpHost): Promise<HttpFront> {
  const server = createServer((req, res) => {
    const match = /^\/mcp\/([^/?]+)/.exec(req.url ?? '');
    if (!match) {
      res.writeHead(404).end();
      return;
    }
    host.handleRequest(decodeURIComponent(match[1]!), req, res).catch((error: Error) => {
      if (!res.headersSent) res.writeHead(500).end(error.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: (name) => new URL(`http://127.0.0.1:${port}/mcp/${name}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  close(): Promise<void>;
}

export async function connectClient(
  url: URL,
  options: { name?: string; capabilities?: ClientCapabilities; setup?: (client: Client) => void } = {},
): Promise<TestClient> {
  const client = new Client(
    { name: options.name ?? 'test-client', version: '1.0.0' },
    { capabilities: options.capabilities ?? {} },
  );
  options.setup?.(client);
  const transport = new StreamableHTTPClientTransport(url);
  await client.connect(transport);
  return {
    client,
    transport,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

export const textOf = (result: unknown): string =>
  ((result as { content?: Array<{ type: string; text?: string }> }).content ?? []).map((c) => c.text ?? '').join('');

/**
 * A clock whose timers fire only when the test advances it. `start`: what `now()` reads at first
 * (a function is read each time, e.g. `Date.now` for a clock that only moves forward from real time).
 */
export function manualClock(start: number | (() => number) = 1_000_000): Clock & {
  advance(ms: number): void;
  /** Timers waiting to fire. */
  pending(): number;
  /** Timers armed with a delay of `ms` (the host also runs other timers on this clock). */
  armed(ms: number): number;
} {
  const base = typeof start === 'function' ? start : () => start;
  let offset = 0;
  let timers: Array<{ at: number; ms: number; fn: () => void; handle: object }> = [];
  return {
    now: () => base() + offset,
    setTimeout(fn, ms) {
      const handle = {};
      timers.push({ at: offset + ms, ms, fn, handle });
      return handle;
    },
    clearTimeout(handle) {
      timers = timers.filter((t) => t.handle !== handle);
    },
    advance(ms) {
      offset += ms;
      const due = timers.filter((t) => t.at <= offset);
      timers = timers.filter((t) => t.at > offset);
      for (const t of due) t.fn();
    },
    pending: () => timers.length,
    armed: (ms) => timers.filter((t) => t.ms === ms).length,
  };
}
