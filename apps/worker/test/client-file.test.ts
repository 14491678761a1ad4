import { parse, stringify } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { parseClientFile, renderClientFile, sameToml } from '../src/import/client-file.js';
import { detectFormat } from '../src/import/client-formats.js';

describe('TOML client files (smol-toml)', () => {
  it('smol-toml drops comments on a parse + stringify: the reason a commented file is never rewritten', () => {
    const text = '# why\nmodel = "o3" # inline\n[mcp_servers.a]\ncommand = "x"\n';
    expect(stringify(parse(text))).not.toContain('#');
  });

  it.each([
    ['a line comment', '# comment\n[mcp_servers.a]\ncommand = "x"\n', true],
    ['an inline comment', '[mcp_servers.a]\ncommand = "x" # why\n', true],
    ['a comment after a string holding #', '[mcp_servers.a]\nargs = ["a#b"] # c\n', true],
    [
      '# only inside strings and quoted keys',
      '[mcp_servers."a#b"]\ncommand = "x#y"\nargs = [\'#\', """#\n#"""]\n',
      false,
    ],
    ['no # at all', '[mcp_servers.a]\ncommand = "x"\n', false],
    ['a \\u0023 escape (undecidable)', '[mcp_servers.a]\ncommand = "\\u0023"\n', true],
  ])('%s: rewritable = %s', (_what, text, refused) => {
    const file = parseClientFile('/c.toml', text, 'toml');
    expect(file.notRewritable !== null).toBe(refused);
    if (refused) expect(() => renderClientFile(file, file.data)).toThrow(/comments|escape/);
    else expect(parse(renderClientFile(file, file.data), { integersAsBigInt: true })).toEqual(file.data);
  });

  it('a rewrite keeps every value and its type: integers, floats, dates of each kind, nested tables, arrays of tables', () => {
    const text = [
      'i = 1',
      'f = 1.0',
      'big = 9007199254740993',
      'odt = 1979-05-27T07:32:00-08:00',
      'ldt = 1979-05-27T07:32:00',
      'ld = 1979-05-27',
      'lt = 07:32:00',
      'inline = { a = 1, b = [1.5, "x"] }',
      '[[profiles]]',
      'name = "a"',
      '[[profiles]]',
      'name = "b"',
    ].join('\n');
    const file = parseClientFile('/c.toml', text, 'toml');
    const out = renderClientFile(file, file.data);
    const back = parse(out, { integersAsBigInt: true });
    expect(sameToml(back, file.data)).toBe(true);
    expect(back.big).toBe(9007199254740993n);
    expect(out).toMatch(/^f = 1\.0$/m);
    expect(out).toMatch(/^i = 1$/m);
    expect(out).toMatch(/^ld = 1979-05-27$/m);
  });

  it('sameToml tells types apart', () => {
    expect(sameToml(1n, 1)).toBe(false);
    expect(sameToml({ a: [1n] }, { a: [1n] })).toBe(true);
    expect(sameToml({ a: 1n }, { a: 1n, b: 2n })).toBe(false);
    const dates = parse('a = 1979-05-27\nb = 1979-05-27T00:00:00');
    expect(sameToml(dates.a, dates.b)).toBe(false);
  });

  it('invalid TOML is an error naming the file', () => {
    expect(() => parseClientFile('/x/config.toml', '[mcp_servers\n', 'toml')).toThrow(
      /config file \/x\/config\.toml is not valid TOML/,
    );
  });
});

describe('client format detection', () => {
  it.each([
    ['/h/Library/Application Support/Claude/claude_desktop_config.json', {}, 'claude-desktop'],
    ['/p/.mcp.json', {}, 'claude-code'],
    ['/h/.claude.json', {}, 'claude-code'],
    ['/x/anything.json', { projects: {} }, 'claude-code'],
    ['/p/.cursor/mcp.json', {}, 'cursor'],
    ['/p/.vscode/mcp.json', {}, 'vscode'],
    ['/h/.config/Code/User/mcp.json', { servers: {} }, 'vscode'],
    ['/h/.gemini/settings.json', {}, 'gemini'],
    ['/h/.codex/config.toml', {}, 'codex'],
    ['/x/other.toml', { mcp_servers: {} }, 'codex'],
    ['/x/settings.json', { mcpServers: {} }, null],
    ['/x/mcp.json', { mcpServers: {} }, null],
  ])('%s → %s', (path, data, format) => {
    expect(detectFormat(path, data)).toBe(format);
  });
});
