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

const $ = (body: string) => `$${'{'}${body}}`;

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

  it('project .mcp.json: relative paths keep working (cwd = the project); entries with variables move with the expressions kept', async () => {
    const { files, home } = workspace();
    const { plan, stderr } = await importJson(join(files, 'project', '.mcp.json'), home);
    expect(plan.servers.mcpServers).toEqual({
      docs: { command: 'node', args: ['./tools/docs-server.js'], cwd: join(files, 'project') },
      // The expression, never a value: the host expands it from its env file when it loads servers.json.
      keyed: {
        command: 'npx',
        args: ['-y', 'some-server'],
        env: { API_KEY: $('API_KEY') },
        cwd: join(files, 'project'),
      },
    });
    expect(plan.client.mcpServers.keyed).toEqual({ type: 'stdio', ...bridge('keyed', home) });
    expect(plan.leftAlone.map((l: any) => [l.where, l.reason])).toEqual([
      ['api', 'it is a remote server (url): there is no process to share'],
    ]);
    expect(plan.variables).toEqual([{ name: 'API_KEY', hasDefault: false, servers: ['keyed'] }]);
    expect(plan.envFile).toEqual({
      path: join(home, 'env'),
      mustDefine: ['API_KEY'],
      mayDefine: [],
      undefined: ['API_KEY'],
      problem: null,
    });
    expect(stderr).toMatch(
      /the moved servers read API_KEY \(keyed\): define it in .*\/env \(NAME=VALUE lines, chmod 600\)/,
    );
    expect(stderr).toMatch(/not defined there yet: API_KEY/);
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

// gemini/.gemini/settings.json: written by `gemini mcp add` (Gemini CLI 0.61.0: memory, github, sqlite,
// remote-http, legacy-sse, docs; sqlite's $HOME-expanded path changed to /home/me), plus three
// entries that command does not write: notes (a bare $HOME), legacy-http (httpUrl), scratch.
describe('import: Gemini CLI', () => {
  it('user settings: stdio servers move, variable expressions kept, client keys stay; url/httpUrl and a bare $VAR left alone', async () => {
    const { files, home } = workspace();
    const userHome = join(files, 'gemini');
    const result = await runCli(['import', join(userHome, '.gemini', 'settings.json'), '--home', home, '--json'], {
      env: { HOME: userHome },
    });
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.format).toBe('gemini');
    expect(plan.servers.mcpServers).toEqual({
      memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] },
      github: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-github'],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: $('GITHUB_TOKEN'), GITHUB_HOST: 'github.com' },
      },
      sqlite: { command: 'uvx', args: ['mcp-server-sqlite'], env: { DB: '/home/me/data.db' } },
      docs: { command: 'node', args: ['/opt/docs/server.js', '--port', '0'] },
    });
    // What only Gemini reads stays on the bridge entry.
    expect(plan.client.mcpServers.github).toEqual({
      ...bridge('github', home),
      timeout: 30000,
      includeTools: ['search_code,get_file_contents'],
    });
    expect(plan.client.mcpServers.docs).toEqual({ ...bridge('docs', home), trust: true, description: 'docs search' });
    expect(plan.leftAlone.map((l: any) => [l.where, l.reason])).toEqual([
      ['remote-http', 'it is a remote server (url): there is no process to share'],
      ['legacy-sse', 'it is a remote server (url): there is no process to share'],
      [
        'notes',
        `it uses $HOME, which Gemini CLI expands and the host does not: write it ${$('HOME')} in the Gemini settings and import again`,
      ],
      ['legacy-http', 'it is a remote server (httpUrl): there is no process to share'],
      // A user-level config says nothing about where Gemini runs: a relative cwd cannot be written out.
      ['scratch', 'its relative "cwd" ("./tools") depends on the folder Gemini CLI runs in'],
    ]);
    expect(plan.envFile.mustDefine).toEqual(['GITHUB_TOKEN']);
  });

  it('project settings: servers run in the project; a relative cwd is written out; a variable with a default is optional', async () => {
    const { files, home } = workspace();
    const project = join(files, 'gemini');
    const { plan, stderr } = await importJson(join(project, '.gemini', 'settings.json'), home);
    expect(plan.servers.mcpServers.memory.cwd).toBe(project);
    expect(plan.servers.mcpServers.scratch).toEqual({
      command: 'node',
      args: [`${$('SCRATCH_DIR:-/tmp/scratch')}/server.js`],
      cwd: join(project, 'tools'),
    });
    expect(plan.envFile.mayDefine).toEqual(['SCRATCH_DIR']);
    expect(stderr).toMatch(/optional \(they have a default\): SCRATCH_DIR/);
  });

  it('settings with comments (Gemini and VS Code accept them) are not JSON: left untouched, saying why', async () => {
    const { files, home } = workspace();
    const file = join(files, 'gemini', '.gemini', 'settings.json');
    const text = `// my settings\n${readFileSync(file, 'utf8')}`;
    writeFileSync(file, text);
    const result = await runCli(['import', file, '--home', home, '--write']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /is not valid JSON: .*comments and trailing commas, which are not JSON: a rewrite would drop them/,
    );
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(join(files, 'gemini', '.gemini'))).toEqual(['settings.json']);
  });
});

// project/.vscode/mcp.json: the shape of VS Code's MCP docs (servers, type, inputs); VS Code cannot run here.
describe('import: VS Code', () => {
  it('moves stdio servers (type kept), writes out workspaceFolder/userHome, turns env:X into the host form; input:.. left alone', async () => {
    const { files, home } = workspace();
    const project = join(files, 'project');
    const userHome = join(files, 'someone');
    const result = await runCli(['import', join(project, '.vscode', 'mcp.json'), '--home', home, '--json'], {
      env: { HOME: userHome },
    });
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.format).toBe('vscode');
    expect(plan.servers.mcpServers).toEqual({
      fetch: { command: 'uvx', args: ['mcp-server-fetch'], cwd: project },
      filesystem: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-filesystem', project, join(userHome, 'notes')],
        env: { GITHUB_TOKEN: $('GITHUB_TOKEN') },
        cwd: project,
      },
    });
    expect(plan.client.servers.fetch).toEqual({ type: 'stdio', ...bridge('fetch', home) });
    expect(plan.client.servers.filesystem).toEqual({
      type: 'stdio',
      ...bridge('filesystem', home),
      dev: { watch: 'src/**/*.ts' },
    });
    expect(plan.client.inputs).toHaveLength(1);
    expect(plan.leftAlone.map((l: any) => [l.where, l.reason])).toEqual([
      [
        'perplexity',
        `it uses ${$('input:perplexity-key')}, which VS Code asks the user for: the host has no value for it`,
      ],
      ['settings', `it uses ${$('config:editor.fontSize')}, which only VS Code can expand`],
      ['github', 'it is a remote server (url): there is no process to share'],
    ]);
    expect(plan.client.servers.perplexity.env.PERPLEXITY_API_KEY).toBe($('input:perplexity-key'));
    expect(plan.envFile.mustDefine).toEqual(['GITHUB_TOKEN']);
  });
});

// codex/.codex/config.toml: written by `codex mcp add` (codex-cli 0.171.0: memory, github, linear),
// plus model settings, notes (env_vars, cwd, timeouts), off (enabled = false), templated and a profile.
describe('import: Codex', () => {
  const codexHome = (files: string) => join(files, 'codex', '.codex');

  it('moves [mcp_servers.*] stdio servers through TOML; env_vars become variable expressions; everything else comes back identical', async () => {
    const { files, home } = workspace();
    const file = join(codexHome(files), 'config.toml');
    const { parse } = await import('smol-toml');
    const before = parse(readFileSync(file, 'utf8'), { integersAsBigInt: true }) as any;
    const { plan } = await importJson(file, home, []);
    expect(plan.format).toBe('codex');
    expect(plan.servers.mcpServers).toEqual({
      memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'], cwd: join(files, 'codex') },
      github: {
        command: 'npx',
        args: ['-y', '@modelcontextprotocol/server-github'],
        env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_literal' },
        cwd: join(files, 'codex'),
      },
      notes: {
        command: 'node',
        args: ['server.js', '--root', './notes'],
        env: { NOTES_TOKEN: $('NOTES_TOKEN') },
        cwd: '/home/me/notes',
      },
      off: { command: 'python3', args: ['-m', 'off_server'], disabled: true, cwd: join(files, 'codex') },
    });
    expect(plan.leftAlone.map((l: any) => [l.where, l.reason])).toEqual([
      ['linear', 'it is a remote server (url): there is no process to share'],
      ['templated', `Codex passes ${$('HOME')} to the server as written, and the host would expand it`],
    ]);
    expect(plan.envFile.mustDefine).toEqual(['NOTES_TOKEN']);

    const written = await runCli(['import', file, '--home', home, '--write'], {
      env: { CODEX_HOME: codexHome(files) },
    });
    expect(written.code, written.stderr).toBe(0);
    const after = parse(readFileSync(file, 'utf8'), { integersAsBigInt: true }) as any;
    // Untouched parts, types included: a float stays a float, an integer an integer.
    expect(after.model).toBe('gpt-5-codex');
    expect(after.profiles).toEqual(before.profiles);
    expect(after.mcp_servers.linear).toEqual(before.mcp_servers.linear);
    expect(after.mcp_servers.templated).toEqual(before.mcp_servers.templated);
    expect(after.mcp_servers.notes).toEqual({
      ...bridge('notes', home),
      startup_timeout_sec: 20,
      tool_timeout_sec: 60n,
      enabled_tools: ['search'],
    });
    expect(readFileSync(file, 'utf8')).toMatch(/^startup_timeout_sec = 20\.0$/m);
    expect(after.mcp_servers.off).toEqual({ ...bridge('off', home), enabled: false });
    // With CODEX_HOME pointing at it, the file is the user's own: no project folder for the servers.
    expect(JSON.parse(readFileSync(join(home, 'servers.json'), 'utf8')).mcpServers.memory.cwd).toBeUndefined();

    // Re-running import on its own output changes nothing.
    const text = readFileSync(file, 'utf8');
    const again = await runCli(['import', file, '--home', home, '--write'], { env: { CODEX_HOME: codexHome(files) } });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 moved, 6 left as they are/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(codexHome(files)).filter((f) => f.includes('spawnguard-backup'))).toHaveLength(1);
  });

  it('a TOML file with comments is planned and shown but never rewritten (smol-toml drops comments); nothing is written', async () => {
    const { files, home } = workspace();
    const file = join(files, 'codex-commented', '.codex', 'config.toml');
    const text = readFileSync(file, 'utf8');
    const shown = await runCli(['import', file, '--home', home]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /cannot be rewritten .*the bridge entries to put in by hand:\n\[mcp_servers\.memory\]/,
    );
    expect(shown.stderr).toMatch(
      /--write would write nothing: .* has comments, and smol-toml, the TOML library the importer uses, does not keep comments/,
    );
    const write = await runCli(['import', file, '--home', home, '--write']);
    expect(write.code).toBe(2);
    expect(write.stderr).toMatch(/nothing was written: .* has comments/);
    expect(readFileSync(file, 'utf8')).toBe(text);
    expect(readdirSync(home)).not.toContain('servers.json');
    expect(readdirSync(join(files, 'codex-commented', '.codex'))).toEqual(['config.toml']);
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
      /cannot tell which client wrote .*pass --from claude-desktop\|claude-code\|cursor\|vscode\|gemini\|codex/,
    ],
    [
      'a bad --from',
      (dir: string) => join(dir, 'claude_desktop_config.json'),
      ['--from', 'zed'],
      /--from must be one of claude-desktop, claude-code, cursor, vscode, gemini, codex, got "zed"/,
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
