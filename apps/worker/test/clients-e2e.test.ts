/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers */
/**
 * `import` end to end with the real clients, where they run here. Opt-in: both are large (about
 * 500 MB installed) and are never workspace dependencies. Install them outside the workspace and
 * point SPAWNGUARD_E2E_CLIENTS at their bin folder:
 *
 *   npm i --prefix /tmp/clients @google/gemini-cli @openai/codex
 *   SPAWNGUARD_E2E_CLIENTS=/tmp/clients/node_modules/.bin pnpm exec vitest run test/clients-e2e.test.ts
 *
 * Gemini CLI: `gemini mcp list` connects to every configured server and health-checks it, so after
 * the import it starts the bridge, which starts the worker, which starts the real server with the
 * env file's values. Codex: `codex mcp list` only reads config.toml (connecting needs a model
 * session: a login and OpenAI's network), so it proves the rewritten TOML is read as the bridge.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, cleanup, freePort, killStarted, makeHome, processesWith, runCli, workerArgs } from './helpers.js';
import { EVERYTHING, MEMORY } from './mcp-servers.js';

const BIN = process.env.SPAWNGUARD_E2E_CLIENTS;
const has = (name: string) => BIN !== undefined && existsSync(join(BIN, name));
const $ = (body: string) => `$${'{'}${body}}`;

let home = '';
let port = 0;
const dirs: string[] = [];
afterEach(async () => {
  killStarted();
  if (home) {
    await runCli(['stop', '--home', home, '--port', String(port)], { timeoutMs: 30_000 }).catch(() => null);
    await cleanup(home);
  }
  home = '';
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs a client binary with a private HOME; killed (by pid) if it outlives the timeout. */
function runClient(
  name: string,
  args: string[],
  options: { env: Record<string, string>; cwd: string; timeoutMs?: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(BIN!, name), args, {
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-e2e-'));
  dirs.push(dir);
  return dir;
}

describe.skipIf(!has('gemini'))('import end to end: Gemini CLI', () => {
  it('after import, `gemini mcp list` reaches both servers through the bridge and the worker, with env-file values', async () => {
    home = makeHome();
    port = await freePort();
    const user = folder();
    const work = join(user, 'work');
    mkdirSync(join(user, '.gemini'), { recursive: true });
    mkdirSync(work);
    // The folder must be trusted, or Gemini CLI lists its servers as disabled without starting them.
    writeFileSync(join(user, '.gemini', 'trustedFolders.json'), JSON.stringify({ [work]: 'TRUST_FOLDER' }));
    const settings = join(user, '.gemini', 'settings.json');
    writeFileSync(
      settings,
      `${JSON.stringify(
        {
          mcpServers: {
            memory: {
              command: process.execPath,
              args: [MEMORY, home],
              env: { MEMORY_FILE_PATH: `${$('SPAWNGUARD_E2E_DIR')}/memory.jsonl` },
              timeout: 30000,
            },
            everything: { command: process.execPath, args: [EVERYTHING, 'stdio', home] },
          },
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(join(home, 'env'), `SPAWNGUARD_E2E_DIR=${home}\n`, { mode: 0o600 });
    const env = { HOME: user };

    const imported = await runCli(['import', settings, ...workerArgs(home, port), '--write'], { env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(/2 moved \(memory, everything\)/);
    const rewritten = JSON.parse(readFileSync(settings, 'utf8'));
    expect(rewritten.mcpServers.memory).toEqual({
      command: process.execPath,
      args: [CLI, 'mcp', 'memory', '--home', home, '--port', String(port)],
      timeout: 30000,
    });

    const listed = await runClient('gemini', ['mcp', 'list'], { env, cwd: work });
    // Gemini CLI prints the list on stderr.
    const output = `${listed.stdout}\n${listed.stderr}`;
    expect(listed.code, output).toBe(0);
    expect(output).toMatch(
      new RegExp(`✓ memory: .*${CLI.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} mcp memory.* - Connected`),
    );
    expect(output).toMatch(/✓ everything: .* - Connected/);

    // The worker (started by the bridge Gemini launched) ran the real servers, memory's variable expanded.
    const status = JSON.parse((await runCli(['status', '--json', ...workerArgs(home, port)])).stdout);
    const byName = Object.fromEntries(status.servers.map((s: any) => [s.name, s]));
    expect(byName.memory).toMatchObject({ variables: ['SPAWNGUARD_E2E_DIR'], expansionError: null });
    expect(byName.memory.starts).toBeGreaterThanOrEqual(1);
    expect(byName.everything.starts).toBeGreaterThanOrEqual(1);
    expect(processesWith(home).some((p) => p.argv.includes('daemon'))).toBe(true);

    // Importing the rewritten file again changes nothing.
    const text = readFileSync(settings, 'utf8');
    const again = await runCli(['import', settings, ...workerArgs(home, port), '--write'], { env });
    expect(again.stderr).toMatch(/0 moved, 2 left as they are/);
    expect(readFileSync(settings, 'utf8')).toBe(text);
  }, 180_000);
});

describe.skipIf(!has('codex'))('import end to end: Codex', () => {
  it('after import, `codex mcp list --json` reads the rewritten config.toml: the moved servers launch the bridge', async () => {
    home = makeHome();
    port = await freePort();
    const user = folder();
    const codexHome = join(user, '.codex');
    mkdirSync(codexHome);
    const config = join(codexHome, 'config.toml');
    writeFileSync(
      config,
      [
        'model = "gpt-5-codex"',
        '',
        '[mcp_servers.memory]',
        `command = ${JSON.stringify(process.execPath)}`,
        `args = [${JSON.stringify(MEMORY)}, ${JSON.stringify(home)}]`,
        'env_vars = ["SPAWNGUARD_E2E_DIR"]',
        'startup_timeout_sec = 20.0',
        '',
        '[mcp_servers.remote]',
        'url = "https://example.invalid/mcp"',
        '',
      ].join('\n'),
    );
    const env = { HOME: user, CODEX_HOME: codexHome };
    const before = await runClient('codex', ['mcp', 'list', '--json'], { env, cwd: user });
    expect(before.code, before.stderr).toBe(0);

    const imported = await runCli(['import', config, ...workerArgs(home, port), '--write'], { env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stderr).toMatch(/the moved servers read SPAWNGUARD_E2E_DIR \(memory\)/);

    const listed = await runClient('codex', ['mcp', 'list', '--json'], { env, cwd: user });
    expect(listed.code, listed.stderr).toBe(0);
    const servers = Object.fromEntries(JSON.parse(listed.stdout).map((s: any) => [s.name, s]));
    expect(servers.memory).toMatchObject({
      enabled: true,
      transport: {
        type: 'stdio',
        command: process.execPath,
        args: [CLI, 'mcp', 'memory', '--home', home, '--port', String(port)],
        env_vars: [],
      },
      startup_timeout_sec: 20,
    });
    expect(servers.remote.transport).toMatchObject({ type: 'streamable_http', url: 'https://example.invalid/mcp' });
    const hosted = JSON.parse(readFileSync(join(home, 'servers.json'), 'utf8')).mcpServers.memory;
    expect(hosted).toEqual({
      command: process.execPath,
      args: [MEMORY, home],
      env: { SPAWNGUARD_E2E_DIR: $('SPAWNGUARD_E2E_DIR') },
    });
  }, 120_000);
});
