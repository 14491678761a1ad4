// Run by check:packages against the packed package, once through import and once through require.
// A tiny MCP stdio server written inline (JSON-RPC lines) is hosted, and one session talks to it
// through a bare transport object: initialize, tools/call, then close kills the backend.
const { mkdtempSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
console.log('plain text before the protocol');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  const result = m.method === 'initialize'
    ? { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'smoke', version: '1' } }
    : { content: [{ type: 'text', text: 'pid ' + process.pid }] };
  process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }) + '\\n');
});`;

module.exports = async function smoke(m) {
  try {
    m.createMcpHost({ stateDir: 'relative', servers: {} });
    throw new Error('a relative stateDir was accepted');
  } catch (error) {
    if (!(error instanceof TypeError) || !/options\.stateDir/.test(error.message)) throw error;
  }
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-mcp-host-smoke-'));
  const host = m.createMcpHost({
    stateDir: dir,
    servers: { smoke: { command: process.execPath, args: ['-e', SERVER] } },
  });
  try {
    const replies = new Map();
    const transport = {
      async start() {},
      async send(message) {
        if (message.id !== undefined) replies.get(message.id)?.(message);
      },
      async close() {},
    };
    host.connect('smoke', transport);
    const ask = (id, method, params) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${method}`)), 10_000);
        replies.set(id, (reply) => {
          clearTimeout(timer);
          resolve(reply);
        });
        transport.onmessage({ jsonrpc: '2.0', id, method, params });
      });
    const init = await ask(1, 'initialize', {
      protocolVersion: '2025-03-26',
      capabilities: {},
      clientInfo: { name: 's', version: '1' },
    });
    if (init.result?.serverInfo?.name !== 'smoke' || init.result.protocolVersion !== '2025-03-26') {
      throw new Error(`unexpected initialize result ${JSON.stringify(init)}`);
    }
    const call = await ask(1.5, 'tools/call', { name: 'any', arguments: {} });
    const [stats] = host.stats();
    if (call.result?.content?.[0]?.text !== `pid ${stats.pid}` || stats.starts !== 1) {
      throw new Error(`unexpected call result ${JSON.stringify(call)} / ${JSON.stringify(stats)}`);
    }
    await host.close();
    if (host.stats().length !== 0) throw new Error('servers left after close');
    try {
      process.kill(stats.pid, 0);
      throw new Error(`backend ${stats.pid} still runs after close`);
    } catch (error) {
      if (error.code !== 'ESRCH') throw error;
    }
  } finally {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  }
};
