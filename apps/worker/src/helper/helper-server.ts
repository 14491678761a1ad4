/**
 * The helper: a real MCP stdio server with one tool, `search`, over a small in-memory vector store.
 * The daemon spawns it through the process registry and talks to it with the MCP SDK Client.
 *
 * argv: --spawnguard-helper (marker: lets tests and the storm demo count helpers by cmdline)
 *       --home <dir>        (marker only: ties the helper to its worker's home)
 *       --with-grandchild   (starts one idle grandchild, to prove that shutdown kills whole trees)
 *       --linger            (keeps running after stdin closes, like a wedged helper in the field)
 * env:  SPAWNGUARD_HELPER_CRASH=always  exits with status 70 at startup (crash-loop drill)
 */
import { spawn } from 'node:child_process';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
// zod is the SDK's schema language (a peer dependency of the SDK).
import { z } from 'zod';
import { VERSION } from '../shared/version.js';
import { DOCUMENTS } from './documents.js';
import { VectorStore } from './vector-store.js';

const args = process.argv.slice(2);

if (process.env.SPAWNGUARD_HELPER_CRASH === 'always') {
  process.stderr.write('spawnguard helper: crashing at startup (SPAWNGUARD_HELPER_CRASH=always)\n');
  process.exit(70);
}

const homeIndex = args.indexOf('--home');
const home = homeIndex >= 0 ? args[homeIndex + 1] : undefined;

if (args.includes('--with-grandchild')) {
  // Not detached: it stays in the helper's process group, as a real helper's own children would.
  const grandchild = spawn(
    process.execPath,
    ['-e', 'setInterval(() => {}, 1 << 30)', '--', 'spawnguard-grandchild', ...(home ? ['--home', home] : [])],
    { stdio: 'ignore' },
  );
  grandchild.unref();
}

const store = new VectorStore(DOCUMENTS);
const server = new McpServer({ name: 'spawnguard-helper', version: VERSION });

server.registerTool(
  'search',
  {
    title: 'Search the built-in notes',
    description: 'Bag-of-words cosine search over the helper’s built-in documents about spawn storms.',
    inputSchema: {
      query: z.string().min(1).max(1000).describe('free-text query'),
      limit: z.number().int().min(1).max(50).optional().describe('maximum hits (default 5)'),
    },
  },
  async ({ query, limit }) => {
    const hits = store.search(query, limit ?? 5);
    return { content: [{ type: 'text', text: JSON.stringify({ query, hits, helperPid: process.pid }) }] };
  },
);

// A helper whose parent is gone has nobody to answer: exit on stdin EOF (unless told to linger).
// Children it started are NOT taken down here, on purpose: tree kill is the daemon's job.
if (!args.includes('--linger')) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
} else {
  setInterval(() => {}, 1 << 30);
}

await server.connect(new StdioServerTransport());
