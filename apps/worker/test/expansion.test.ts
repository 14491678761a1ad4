import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EnvFileError, parseEnvFile, readEnvFile } from '../src/config/env-file.js';
import { loadServersConfig, parseServersConfig } from '../src/config/servers-config.js';
import { expandVariables, variablesIn } from '../src/config/var-expansion.js';
import type { HostedStatus } from '../src/daemon/mcp/host.js';
import { refuseUnresolved, withVariables } from '../src/daemon/mcp/unresolved-servers.js';

const dirs: string[] = [];
const folder = () => {
  const dir = mkdtempSync(join(tmpdir(), 'spawnguard-expansion-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const $ = (body: string) => `$${'{'}${body}}`;
const env: Record<string, string> = { SET: 'value', EMPTY: '', B: 'bee', 'WITH SPACE': 'spaced' };
const expand = (text: string) => expandVariables(text, (name) => (Object.hasOwn(env, name) ? env[name] : undefined));

describe('variable expansion: Claude Code’s rules', () => {
  it.each([
    // [written, expanded, missing]
    [$('SET'), 'value', []],
    [`pre-${$('SET')}-post`, 'pre-value-post', []],
    [$('UNSET'), $('UNSET'), ['UNSET']],
    [$('EMPTY'), '', []],
    // `:-` uses the default only when the name is unset: set-but-empty stays empty (unlike sh).
    [$('UNSET:-fallback'), 'fallback', []],
    [$('EMPTY:-fallback'), '', []],
    [$('SET:-fallback'), 'value', []],
    [$('UNSET:-'), '', []],
    // A `$` not followed by `{` is literal; so are `$$`, `${}` and an unterminated `${`.
    ['$SET and $ and $$ and $(SET)', '$SET and $ and $$ and $(SET)', []],
    [$(''), $(''), []],
    [`${'$'}{SET`, `${'$'}{SET`, []],
    [`${$('SET')} then ${'$'}{SET`, `value then ${'$'}{SET`, []],
    // Nested braces are not nested: the body ends at the first `}`, the rest is literal text.
    [$(`UNSET:-${$('B')}`), $('B'), []],
    [$(`SET:-${$('B')}`), 'value}', []],
    // The default ends at a second `:-` (Claude Code's split(':-', 2)).
    [$('UNSET:-x:-y'), 'x', []],
    // A name is everything before `:-`, spaces included, never trimmed.
    [$('WITH SPACE'), 'spaced', []],
    [$(' SET '), $(' SET '), [' SET ']],
    [$(':-x'), 'x', []],
    [`${$('UNSET')}${$('UNSET')}${$('OTHER')}`, `${$('UNSET')}${$('UNSET')}${$('OTHER')}`, ['UNSET', 'OTHER']],
  ])('%s → %s', (written, expanded, missing) => {
    expect(expand(written)).toEqual({ value: expanded, missing });
  });

  it('lists the variables a string uses, a default marked, in order of first use', () => {
    expect(variablesIn(`${$('A')}/${$('B:-x')}/${$('A:-y')}/$C`)).toEqual([
      { name: 'A', hasDefault: false },
      { name: 'B', hasDefault: true },
    ]);
    expect(variablesIn(`${$('B:-x')}${$('B')}`)).toEqual([{ name: 'B', hasDefault: false }]);
  });
});

describe('the env file', () => {
  it('reads NAME=VALUE lines: comments, export, quotes taken literally, blanks, CRLF, empty values', () => {
    const text = [
      '\uFEFF# secrets for my servers',
      '',
      'TOKEN=abc123',
      '  export  EXPORTED = with spaces inside  ',
      'HASH=a#b # not a comment',
      `DOUBLE="  keep  'single' $HOME \\n  " # a comment`,
      'SINGLE=\'say "hi"\'',
      'EMPTY=',
      'QUOTED_EMPTY=""',
      'CRLF=yes\r',
      '   # indented comment',
    ].join('\n');
    expect(Object.fromEntries(parseEnvFile('/x/env', text))).toEqual({
      TOKEN: 'abc123',
      EXPORTED: 'with spaces inside',
      HASH: 'a#b # not a comment',
      DOUBLE: `  keep  'single' $HOME \\n  `,
      SINGLE: 'say "hi"',
      EMPTY: '',
      QUOTED_EMPTY: '',
      CRLF: 'yes',
    });
  });

  it.each([
    ['no equals sign here', /\/x\/env:2: not a NAME=VALUE line/],
    ['1ABC=secret-value', /\/x\/env:2: "1ABC" is not a variable name/],
    ['MY-KEY=secret-value', /"MY-KEY" is not a variable name/],
    ['KEY="secret-value', /\/x\/env:2: the value of KEY opens a " quote that does not close/],
    ["KEY='secret-value' trailing", /text after the closing ' of KEY/],
    ['OK=1', /\/x\/env:2: OK is already defined on line 1/],
  ])('refuses %j naming the file and line, never the value', (line, message) => {
    let error: unknown;
    try {
      parseEnvFile('/x/env', `OK=1\n${line}\n`);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EnvFileError);
    expect((error as EnvFileError).code).toBe('EENVFILE');
    expect((error as EnvFileError).line).toBe(2);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('secret-value');
  });

  it('is read only when it is a private regular file we own: link, FIFO, loose mode and foreign owner refused with the fix', () => {
    const dir = folder();
    const file = join(dir, 'env');
    expect(readEnvFile(file, { required: false })).toEqual(new Map());
    expect(() => readEnvFile(file, { required: true })).toThrow(
      /env file .*env does not exist; create it \(chmod 600\)/,
    );

    writeFileSync(file, 'A=1\n', { mode: 0o600 });
    expect(readEnvFile(file, { required: true }).get('A')).toBe('1');

    chmodSync(file, 0o640);
    expect(() => readEnvFile(file, { required: false })).toThrow(
      new RegExp(`env file ${file} is readable or writable by group or others \\(mode 0640\\).*chmod 600 ${file}`),
    );
    chmodSync(file, 0o600);

    const link = join(dir, 'link');
    symlinkSync(file, link);
    expect(() => readEnvFile(link, { required: false })).toThrow(
      /env file .*link is a symbolic link; refusing to follow it/,
    );

    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    // Opened without blocking: a FIFO with no writer must not hang the worker.
    expect(() => readEnvFile(fifo, { required: false })).toThrow(/env file .*fifo is not a regular file/);

    if (process.getuid?.() === 0) {
      const foreign = join(dir, 'foreign');
      writeFileSync(foreign, 'A=1\n', { mode: 0o600 });
      chownSync(foreign, 4242, 4242);
      expect(() => readEnvFile(foreign, { required: false })).toThrow(
        /env file .*foreign is owned by uid 4242, not by you/,
      );
    }
  });
});

describe('servers.json with variables', () => {
  const write = (dir: string, servers: Record<string, unknown>) => {
    const path = join(dir, 'servers.json');
    writeFileSync(path, JSON.stringify({ mcpServers: servers }), { mode: 0o600 });
    return path;
  };
  const load = (dir: string, environment: Record<string, string> = {}) =>
    loadServersConfig({
      explicit: join(dir, 'servers.json'),
      homeFile: join(dir, 'servers.json'),
      builtIn: () => ({ command: 'never', args: [], env: {} }),
      expansion: { envFile: join(dir, 'env'), environment },
    });

  it('expands command, args, env values and cwd from the env file first, then the environment; keys and other fields stay', () => {
    const dir = folder();
    writeFileSync(join(dir, 'env'), 'TOKEN=from-file\nBIN=node\n', { mode: 0o600 });
    write(dir, {
      api: {
        command: $('BIN'),
        args: [`--token=${$('TOKEN')}`, $('ONLY_ENV'), $('NOPE:-default'), '$TOKEN'],
        env: { [$('TOKEN')]: $('TOKEN'), PLAIN: 'x' },
        cwd: `${$('ROOT:-.')}/work`,
      },
      plain: { command: 'node', args: [$('')] },
    });
    const config = load(dir, { TOKEN: 'from-environment', ONLY_ENV: 'env-value' });
    expect(config.servers.api).toEqual({
      command: 'node',
      args: ['--token=from-file', 'env-value', 'default', '$TOKEN'],
      env: { [$('TOKEN')]: 'from-file', PLAIN: 'x' },
      cwd: join(dir, 'work'), // relative after expansion: relative to the config file
    });
    expect(config.expansion.api).toMatchObject({
      variables: ['BIN', 'TOKEN', 'ONLY_ENV', 'NOPE', 'ROOT'],
      envFile: join(dir, 'env'),
      error: null,
    });
    expect(config.servers.plain).toEqual({ command: 'node', args: [$('')], env: {} });
    expect(config.expansion.plain).toBeUndefined();
  });

  it('a variable set nowhere keeps that one server out, with an error naming it (never a value); the others run', () => {
    const dir = folder();
    writeFileSync(join(dir, 'env'), 'GITHUB_TOKEN=ghp_secret\n', { mode: 0o600 });
    write(dir, {
      github: { command: 'gh-mcp', env: { GITHUB_TOKEN: $('GITHUB_TOKEN'), ORG: $('GITHUB_ORG') } },
      both: { command: 'x', args: [$('A'), $('B'), $('A')] },
      ok: { command: 'node', args: ['srv.js'] },
    });
    const config = load(dir, { PATH: '/usr/bin' });
    expect(Object.keys(config.servers)).toEqual(['ok']);
    expect(config.expansion.github!.error).toBe(
      `${$('GITHUB_ORG')} is not set (not in ${join(dir, 'env')} nor in the worker's environment); define it in ${join(dir, 'env')} and reload`,
    );
    expect(config.expansion.both!.error).toMatch(/^\$\{A\} and \$\{B\} are not set/);
    expect(config.warnings.join('\n')).toContain(`MCP server "github" is not started: ${$('GITHUB_ORG')} is not set`);
    expect(JSON.stringify(config.expansion)).not.toContain('ghp_secret');

    // The next load (a SIGHUP reload) reads the env file again.
    writeFileSync(join(dir, 'env'), 'GITHUB_TOKEN=ghp_secret\nGITHUB_ORG=acme\nA=1\nB=2\n', { mode: 0o600 });
    const next = load(dir);
    expect(Object.keys(next.servers)).toEqual(['github', 'both', 'ok']);
    expect(next.servers.github!.env).toEqual({ GITHUB_TOKEN: 'ghp_secret', ORG: 'acme' });
    expect(next.servers.both!.args).toEqual(['1', '2', '1']);
  });

  it('an unusable env file stops only the servers that use variables; a server envFile is its own, relative to the config', () => {
    const dir = folder();
    writeFileSync(join(dir, 'env'), 'A=1\n', { mode: 0o644 });
    writeFileSync(join(dir, 'team.env'), 'A=team\n', { mode: 0o600 });
    write(dir, {
      uses: { command: 'x', args: [$('A:-d')] },
      own: { command: 'x', args: [$('A')], envFile: 'team.env' },
      gone: { command: 'x', args: [$('A')], envFile: 'missing.env' },
      none: { command: 'x', envFile: 'team.env' },
    });
    const config = load(dir, { A: 'environment' });
    expect(Object.keys(config.servers).sort()).toEqual(['none', 'own']);
    expect(config.servers.own!.args).toEqual(['team']);
    expect(config.expansion.uses!.error).toMatch(
      /^it uses \$\{A\}, but env file .*\/env is readable or writable by group or others \(mode 0644\).*chmod 600/,
    );
    expect(config.expansion.gone!.error).toMatch(/env file .*missing\.env does not exist/);
    expect(config.warnings).toContain(
      `${join(dir, 'servers.json')}: server "none": "envFile" is not read: the entry uses no ${$('...')}`,
    );
  });

  it('an entry that expands to an empty command or cwd is not started; a bad envFile field is a config error', () => {
    const dir = folder();
    write(dir, { a: { command: $('CMD:-') }, b: { command: 'x', cwd: $('D:-') } });
    const config = load(dir);
    expect(config.expansion.a!.error).toMatch(/"command" is empty once its \$\{\.\.\.\} are expanded/);
    expect(config.expansion.b!.error).toMatch(/"cwd" is empty/);
    expect(() =>
      parseServersConfig('/c.json', JSON.stringify({ mcpServers: { a: { command: 'x', envFile: 3 } } })),
    ).toThrow(/server "a": "envFile" must be a file path, got 3/);
  });

  it('names inherited from Object.prototype are not set', () => {
    const dir = folder();
    write(dir, { a: { command: 'x', args: [$('constructor'), $('__proto__:-d')] } });
    expect(load(dir).expansion.a!.error).toMatch(/\$\{constructor\} is not set/);
  });
});

describe('status of servers that did not expand', () => {
  it('lists them with their error and the variables every server uses; /mcp/<name> answers 503 naming the variable', async () => {
    const dir = folder();
    writeFileSync(
      join(dir, 'servers.json'),
      JSON.stringify({
        mcpServers: { good: { command: 'x', args: [$('SET')] }, bad: { command: 'x', args: [$('UNSET')] } },
      }),
    );
    const config = loadServersConfig({
      explicit: join(dir, 'servers.json'),
      homeFile: '',
      builtIn: () => ({ command: '', args: [], env: {} }),
      expansion: { envFile: null, environment: { SET: 'v' } },
    });
    const hosted = [{ name: 'good', state: 'stopped', lastError: null }] as unknown as HostedStatus[];
    const statuses = withVariables(config, hosted);
    expect(statuses.map((s) => [s.name, s.state, s.variables, s.expansionError])).toEqual([
      ['good', 'stopped', ['SET'], null],
      ['bad', 'stopped', ['UNSET'], `${$('UNSET')} is not set (not in the worker's environment); define it and reload`],
    ]);
    expect(statuses[1]!.lastError!.message).toMatch(/^MCP server "bad" is not started: \$\{UNSET\} is not set/);

    const endpoint = refuseUnresolved(
      { has: (name) => name === 'good', unavailable: () => null, handle: async () => {} },
      () => config,
    );
    expect([endpoint.has('good'), endpoint.has('bad'), endpoint.has('other'), endpoint.has('__proto__')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(endpoint.unavailable('good')).toBeNull();
    expect(endpoint.unavailable('bad')).toMatchObject({
      status: 503,
      message: expect.stringMatching(/\$\{UNSET\} is not set/),
    });
    await expect(endpoint.handle('bad', {} as never, {} as never, undefined)).rejects.toMatchObject({ status: 503 });
  });
});
