// One editor session of the MCP scenario, as an editor behaves: read its MCP config, start every
// configured server as a stdio child (an MCP SDK Client over StdioClientTransport), call one tool on
// each, then stay open the way an editor does until the demo SIGKILLs it (a crashed editor).
//
// argv: --home <home> (the run's marker; never read), --config <file>, --out <folder>
// <config>: { "mcpServers": { <name>: { command, args, env } }, "calls": { <name>: { name, arguments } } }
// Writes <out>/session-<pid>.json twice: at start { pid, startToken }, then with every call's outcome.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { processIdentity } from '@spawnguard/process-table';

const { values } = parseArgs({
  options: { home: { type: 'string' }, config: { type: 'string' }, out: { type: 'string' } },
});
const config = JSON.parse(readFileSync(values.config, 'utf8'));
const file = join(values.out, `session-${process.pid}.json`);
const record = { pid: process.pid, startToken: (await processIdentity(process.pid))?.startToken ?? null };
const save = () => {
  // Atomic: the demo polls these files and must never read half of one.
  writeFileSync(`${file}.tmp`, JSON.stringify(record));
  renameSync(`${file}.tmp`, file);
};
save();

// Session start = this process's start (performance.now() counts from it): an editor's user waits
// from the moment the editor starts until the first tool answers.
const calls = await Promise.all(
  Object.entries(config.mcpServers).map(async ([server, entry]) => {
    const transport = new StdioClientTransport({ ...entry, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d) => {
      stderr = (stderr + d).slice(-1000);
    });
    const client = new Client({ name: 'spawnguard-demo-editor', version: '1.0.0' });
    try {
      await client.connect(transport, { timeout: 60_000 });
      const call = config.calls[server];
      const result = await client.callTool(call, undefined, { timeout: 60_000 });
      const text = result.content?.find((c) => c.type === 'text')?.text;
      const ok = result.isError !== true && typeof text === 'string' && text.length > 0;
      return { server, ok, ms: performance.now(), ...(ok ? {} : { error: String(text).slice(0, 300), stderr }) };
    } catch (error) {
      return { server, ok: false, ms: performance.now(), error: String(error?.message ?? error), stderr };
    }
  }),
);
record.calls = calls;
record.firstResultMs = Math.min(...calls.filter((c) => c.ok).map((c) => c.ms));
record.allResultsMs = Math.max(...calls.map((c) => c.ms));
save();

// An editor stays open. The demo SIGKILLs it; this bound only matters if the demo itself died.
setTimeout(() => process.exit(0), 600_000);
