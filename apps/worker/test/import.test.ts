/* biome-ignore-all lint/suspicious/noExplicitAny: the test reads arbitrary JSON configs */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI, makeHome, runCli } from './helpers.js';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'import');
let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function workspace(): { files: string; home: string } {
  const files = mkdtempSync(join(tmpdir(), 'spawnguard-import-'));
  cpSync(FIXTURES, files, { recursive: true });
  const home = makeHome();
  dirs.push(files, home);
  return { files, home };
}

const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

async function importJson(file: string, home: string, extra: string[] = []) {
  const result = await runCli(['import', file, '--home', home, '--json', ...extra]);
  expect(result.code, result.stderr).toBe(0);
  return { plan: JSON.parse(result.stdout), stderr: result.stderr };
}

const bridge = (name: string, home: string) => ({
  command: process.execPath,
  args: [CLI, 'mcp', name, '--home', home],
});

describe('import: Claude Desktop', () => {
  it('moves stdio servers to the host, points the client at the bridge, keeps other keys, lists what it leaves', async () => {
    const { files, home } = workspace();
    const { plan, stderr } = await importJson(join(files, 'claude_desktop_config.json'), home);
    expect(plan.format).toBe('claude-desktop');
    expect(plan.servers.mcpServers).toEqual({
      memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] },
      filesystem: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', '/Users/me/Desktop', '/Users/me/Downloads'],
        env: { LOG_LEVEL: 'info' },
      },
    });
    expect(plan.client.globalShortcut).toBe('Ctrl+Space');
    expect(plan.client.mcpServers.memory).toEqual(bridge('memory', home));
    expect(plan.client.mcpServers.filesystem).toEqual(bridge('filesystem', home));
    expect(plan.client.mcpServers.weather).toBe('npx weather-server');
    expect(plan.client.mcpServers['has space']).toEqual({ command: 'node', args: ['srv.js'] });
    expect(plan.leftAlone.map((l: any) => l.where).sort()).toEqual(['has space', 'weather']);
    expect(stderr).toMatch(/2 moved \(memory, filesystem\), 2 left as they are/);
    expect(stderr).toMatch(/left alone: weather: it is not an object/);
  });
});

describe('import: Claude Code', () => {
  it('user file: top-level and per-project servers; remote ones and name clashes left alone', async () => {
    const { files, home } = workspace();
    const { plan } = await importJson(join(files, '.claude.json'), home);
    expect(plan.format).toBe('claude-code');
    expect(Object.keys(plan.servers.mcpServers).sort()).toEqual(['everything', 'sqlite']);
    // A project's server runs in its project folder, as Claude Code would start it.
    expect(plan.servers.mcpServers.sqlite).toEqual({
      command: 'uvx',
      args: ['mcp-server-sqlite', '--db-path', 'app.db'],
      cwd: '/home/me/src/app',
    });
    expect(plan.client.mcpServers.everything).toEqual({ type: 'stdio', ...bridge('everything', home) });
    expect(plan.client.mcpServers.github.type).toBe('http');
    // A project's server runs in the project folder, so it is not the user-level one of the same
    // name: never merged silently, left as it is.
    expect(plan.client.projects['/home/me/src/app'].mcpServers.everything.command).toBe('npx');
    // Another project's different "sqlite" cannot share the name: left as it is.
    expect(plan.client.projects['/home/me/src/other'].mcpServers.sqlite.command).toBe('uvx');
    expect(plan.leftAlone).toEqual([
      { where: 'github', reason: 'it is a remote server (url): there is no process to share' },
      {
        where: 'everything in projects["/home/me/src/app"]',
        reason: 'the host already has a different server named "everything"',
      },
      {
        where: 'sqlite in projects["/home/me/src/other"]',
        reason: 'the host already has a different server named "sqlite"',
      },
    ]);
    expect(plan.client.numStartups).toBe(42);
  });

  it('project .mcp.json: relative paths keep working (cwd = the project); $VAR-expanding entries are left alone', async () => {
    const { files, home } = workspace();
    const { plan } = await importJson(join(files, 'project', '.mcp.json'), home);
    expect(plan.servers.mcpServers).toEqual({
      docs: { command: 'node', args: ['./tools/docs-server.js'], cwd: join(files, 'project') },
    });
    expect(plan.leftAlone.map((l: any) => [l.where, l.reason])).toEqual([
      ['api', 'it is a remote server (url): there is no process to share'],
      ['keyed', `it uses $${'{'}...} expansion, which only the client performs`],
    ]);
  });
});

describe('import: Cursor', () => {
  it('keeps client-only keys on the bridge entry; url, envFile and unknown types left alone', async () => {
    const { files, home } = workspace();
    const { plan } = await importJson(join(files, 'project', '.cursor', 'mcp.json'), home);
    expect(plan.format).toBe('cursor');
    expect(plan.servers.mcpServers).toEqual({
      local: { command: 'node', args: ['mcp-server.js'], env: { DEBUG: '1' }, cwd: join(files, 'project') },
    });
    expect(plan.client.mcpServers.local).toEqual({ ...bridge('local', home), autoApprove: ['search'] });
    expect(plan.leftAlone.map((l: any) => l.where)).toEqual(['linear', 'dotenv', 'odd']);
  });
});

describe('import --write', () => {
  it('writes servers.json (0600) and the client file (same mode), keeps a backup, and is idempotent', async () => {
    const { files, home } = workspace();
    const file = join(files, 'claude_desktop_config.json');
    const original = readFileSync(file, 'utf8');
    const first = await runCli(['import', file, '--home', home, '--write']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    const servers = join(home, 'servers.json');
    expect(statSync(servers).mode & 0o777).toBe(0o600);
    expect(Object.keys(read(servers).mcpServers).sort()).toEqual(['filesystem', 'memory']);
    expect(read(file).mcpServers.memory).toEqual(bridge('memory', home));
    expect(statSync(file).mode & 0o777).toBe(0o644);
    const backups = readdirSync(files).filter((f) => f.startsWith('claude_desktop_config.json.spawnguard-backup-'));
    expect(backups).toHaveLength(1);
    expect(readFileSync(join(files, backups[0]!), 'utf8')).toBe(original);

    const again = await runCli(['import', file, '--home', home, '--write']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 moved, 4 left as they are/);
    expect(again.stderr).toMatch(/memory: it already launches the spawnguard bridge/);
    expect(readdirSync(files).filter((f) => f.includes('spawnguard-backup'))).toHaveLength(1);
  });

  it('merges with servers already in the home; a clash is left alone and named', async () => {
    const { files, home } = workspace();
    writeFileSync(
      join(home, 'servers.json'),
      JSON.stringify({ mcpServers: { memory: { command: 'node', args: ['my-memory.js'] }, keep: { command: 'x' } } }),
      { mode: 0o600 },
    );
    const { plan } = await importJson(join(files, 'claude_desktop_config.json'), home);
    expect(Object.keys(plan.servers.mcpServers).sort()).toEqual(['filesystem', 'keep', 'memory']);
    expect(plan.servers.mcpServers.memory).toEqual({ command: 'node', args: ['my-memory.js'] });
    expect(plan.leftAlone.map((l: any) => l.reason)).toContain(
      'the host already has a different server named "memory"',
    );
  });
});

describe('import: bad input exits 2 with what was wrong', () => {
  it.each([
    ['a missing file', (dir: string) => join(dir, 'nope.json'), [], /config file .*nope\.json does not exist/],
    [
      'invalid JSON',
      (dir: string) => {
        writeFileSync(join(dir, 'claude_desktop_config.json'), '{"mcpServers": ');
        return join(dir, 'claude_desktop_config.json');
      },
      [],
      /is not valid JSON/,
    ],
    [
      'an unknown file name',
      (dir: string) => {
        writeFileSync(join(dir, 'settings.json'), '{"mcpServers": {}}');
        return join(dir, 'settings.json');
      },
      [],
      /cannot tell which client wrote .*pass --from claude-desktop\|claude-code\|cursor/,
    ],
    [
      'a bad --from',
      (dir: string) => join(dir, 'claude_desktop_config.json'),
      ['--from', 'vscode'],
      /--from must be one of claude-desktop, claude-code, cursor, got "vscode"/,
    ],
    [
      'no mcpServers at all',
      (dir: string) => {
        writeFileSync(join(dir, 'claude_desktop_config.json'), '{"theme": "dark"}');
        return join(dir, 'claude_desktop_config.json');
      },
      [],
      /has no "mcpServers" object/,
    ],
  ])('%s', async (_what, make, extra, message) => {
    const { files, home } = workspace();
    const result = await runCli(['import', make(files), '--home', home, ...extra]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('a FIFO in place of the config is refused at once', async () => {
    const { files, home } = workspace();
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [join(files, 'fifo.json')]);
    const result = await runCli(['import', join(files, 'fifo.json'), '--home', home, '--from', 'cursor'], {
      timeoutMs: 10_000,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/not a regular file/);
  });
});
