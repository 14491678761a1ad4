import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createProcessTable,
  parseCimDate,
  parseWin32ProcessJson,
  parseWindowsCommandLine,
  windowsPowerShellArgs,
  windowsScript,
} from '../src/index.js';
import { TestProcesses } from './helpers.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name));

describe('parseWin32ProcessJson (PowerShell 5.1 fixture)', () => {
  const list = parseWin32ProcessJson(fixture('win32-ps51.json'));

  it('parses the array, BOM and CRLF included', () => {
    expect(list.map((p) => p.pid)).toEqual([0, 4, 132, 596, 1020, 7312, 7400, 8120, 9001]);
    expect(list.every((p) => p.uid === -1)).toBe(true);
  });

  it('System Idle Process: pid 0, null CommandLine and CreationDate', () => {
    expect(list[0]).toEqual({
      pid: 0,
      ppid: 0,
      uid: -1,
      name: 'System Idle Process',
      cmdline: [],
      startTime: 0,
      startToken: '0:0',
    });
    expect(list[1]).toMatchObject({ pid: 4, name: 'System', cmdline: [], startTime: 1762160707500 });
  });

  it('splits command lines with the Windows rules', () => {
    const node = list.find((p) => p.pid === 7312)!;
    expect(node.cmdline).toEqual([
      'C:\\Program Files\\nodejs\\node.exe',
      'C:\\Users\\Zoë\\My Projects\\server.js',
      '--title=a "quoted" name',
      'spawnguard-fixture',
    ]);
    expect(node.startToken).toBe('7312:1763540100250');
    expect(list.find((p) => p.pid === 1020)?.cmdline).toEqual([
      'C:\\WINDOWS\\system32\\svchost.exe',
      '-k',
      'DcomLaunch',
      '-p',
    ]);
    expect(list.find((p) => p.pid === 596)?.cmdline).toEqual(['\\SystemRoot\\System32\\smss.exe']);
    expect(list.find((p) => p.pid === 7400)?.cmdline).toEqual([]); // empty CommandLine
    const app = list.find((p) => p.pid === 8120)!;
    expect(app.name).toBe('日本語アプリ (x86).exe');
    expect(app.cmdline).toEqual(['C:\\Apps\\日本語アプリ (x86).exe', 'C:\\data\\', 'trailing\\']);
    const java = list.find((p) => p.pid === 9001)!;
    expect(java.cmdline).toHaveLength(4);
    expect(java.cmdline[2]!.length).toBeGreaterThan(3000);
  });

  it('a single object (one process) and empty output', () => {
    const one = parseWin32ProcessJson(fixture('win32-single.json'));
    expect(one).toHaveLength(1);
    expect(one[0]?.pid).toBe(7312);
    expect(parseWin32ProcessJson('')).toEqual([]);
    expect(parseWin32ProcessJson('\r\n')).toEqual([]);
    expect(parseWin32ProcessJson('[{"Name":"no pid"},null,{"ProcessId":"7"}]')).toEqual([]);
    expect(() => parseWin32ProcessJson('{not json')).toThrow(SyntaxError);
  });

  it('PowerShell 7 ISO dates, ETS-wrapped dates and DMTF strings', () => {
    const ps7 = parseWin32ProcessJson(fixture('win32-ps7.json'));
    expect(ps7.map((p) => p.startTime)).toEqual([
      Date.UTC(2025, 10, 3, 8, 5, 7, 500),
      Date.UTC(2025, 10, 19, 7, 15, 0, 250),
      1763540100250,
      Date.UTC(2025, 10, 19, 7, 15, 0, 250),
    ]);
  });
});

describe('parseCimDate', () => {
  it.each([
    ['/Date(1700000000000)/', 1700000000000],
    ['/Date(1700000000000+0100)/', 1700000000000],
    ['/Date(-1000)/', -1000],
    ['20240101120000.000000+060', Date.UTC(2024, 0, 1, 11, 0, 0)],
    ['20240101120000.123456-300', Date.UTC(2024, 0, 1, 17, 0, 0, 123)],
    ['20240101120000.000000+000', Date.UTC(2024, 0, 1, 12, 0, 0)],
    ['2024-01-01T12:00:00Z', Date.UTC(2024, 0, 1, 12)],
  ])('%s', (input, expected) => {
    expect(parseCimDate(input)).toBe(expected);
  });
  it('rejects what it cannot read', () => {
    expect(parseCimDate(null)).toBeNull();
    expect(parseCimDate(42)).toBeNull();
    expect(parseCimDate('yesterday')).toBeNull();
    expect(parseCimDate({ value: null })).toBeNull();
  });
});

describe('parseWindowsCommandLine (CommandLineToArgvW)', () => {
  it.each([
    // Microsoft's documented examples, after a program name
    ['prog "abc" d e', ['prog', 'abc', 'd', 'e']],
    ['prog a\\\\\\b d"e f"g h', ['prog', 'a\\\\\\b', 'de fg', 'h']],
    ['prog a\\\\\\"b c d', ['prog', 'a\\"b', 'c', 'd']],
    ['prog a\\\\\\\\"b c" d e', ['prog', 'a\\\\b c', 'd', 'e']],
    // CommandLineToArgvW (unlike the 2008 CRT): a third quote is literal and ends the quoted run
    ['prog a"b"" c d', ['prog', 'ab"', 'c', 'd']],
    ['prog """a"""', ['prog', '"a"']],
    ['prog "" b', ['prog', '', 'b']],
    ['prog "a b', ['prog', 'a b']],
    ['prog a\tb  ', ['prog', 'a', 'b']],
    ['prog \\\\server\\share\\', ['prog', '\\\\server\\share\\']],
    // argv[0]: up to the closing quote with no escapes, or up to whitespace (quotes kept)
    ['"C:\\Program Files\\x.exe" -a', ['C:\\Program Files\\x.exe', '-a']],
    ['"C:\\dir\\"x y', ['C:\\dir\\', 'x', 'y']],
    // argv[0] keeps its quote; the next quote opens a run that is never closed
    ['C:\\a"b c"\\x.exe arg', ['C:\\a"b', 'c\\x.exe arg']],
    ['"unterminated program', ['unterminated program']],
    ['prog', ['prog']],
    ['prog   ', ['prog']],
    ['', []],
  ])('%j', (input, expected) => {
    expect(parseWindowsCommandLine(input)).toEqual(expected);
  });
});

describe('PowerShell command construction', () => {
  const decode = (args: string[]) => Buffer.from(args[args.length - 1]!, 'base64').toString('utf16le');
  it('lists with Get-CimInstance (never wmic), selected fields, compressed JSON, UTF-8', () => {
    const args = windowsPowerShellArgs();
    expect(args.slice(0, -1)).toEqual([
      '-NoLogo',
      '-NoProfile',
      '-NonInteractive',
      '-ExecutionPolicy',
      'Bypass',
      '-EncodedCommand',
    ]);
    const script = decode(args);
    expect(script).toBe(windowsScript());
    expect(script).toContain('Get-CimInstance -ClassName Win32_Process |');
    expect(script).toContain(
      'Select-Object ProcessId,ParentProcessId,Name,CommandLine,CreationDate | ConvertTo-Json -Compress',
    );
    expect(script).toContain('[Console]::OutputEncoding = [System.Text.Encoding]::UTF8');
    expect(script.toLowerCase()).not.toContain('wmic');
  });
  it('filters one pid on the CIM side', () => {
    expect(decode(windowsPowerShellArgs(7312))).toContain(
      "Get-CimInstance -ClassName Win32_Process -Filter 'ProcessId=7312' |",
    );
  });
});

let procs: TestProcesses;
afterEach(async () => {
  await procs?.cleanup();
});

describe.runIf(process.platform !== 'win32')('win32 table end to end, PowerShell replaced by a real script', () => {
  it('lists, identifies by pid (single object output), says null for nothing, builds trees', async () => {
    procs = new TestProcesses();
    const dir = join(import.meta.dirname, 'fixtures');
    const encodedFor7312 = windowsPowerShellArgs(7312).at(-1);
    const shell = procs.script(
      'powershell.exe',
      `#!/bin/sh
for last; do :; done
if [ "$last" = "${encodedFor7312}" ]; then cat '${join(dir, 'win32-single.json')}'
elif [ "$last" = "${windowsPowerShellArgs().at(-1)}" ]; then cat '${join(dir, 'win32-ps51.json')}'
fi
`,
    );
    const table = createProcessTable({ platform: 'win32', command: shell });
    const list = await table.listProcesses();
    expect(list).toHaveLength(9);
    expect((await table.processIdentity(7312))?.cmdline[3]).toBe('spawnguard-fixture');
    expect(await table.processIdentity(4242)).toBeNull();
    expect(await table.isSameProcess({ pid: 7312, startToken: '7312:1763540100250' })).toBe(true);
    expect(await table.isSameProcess({ pid: 7312, startToken: '7312:1' })).toBe(false);
    // Strict `<pid>:<startTime>`: the same instant spelled any other way is not that process.
    for (const startToken of [
      '7312:1.76354010025e12',
      '7312:0x19a9b47e49a',
      '7312: 1763540100250',
      '7312:+1763540100250',
    ]) {
      expect(await table.isSameProcess({ pid: 7312, startToken }), startToken).toBe(false);
    }
    expect((await table.childrenOf(7312)).map((p) => p.pid)).toEqual([7400]);
    expect((await table.treeOf(4)).map((p) => p.pid)).toEqual([132, 596]);
    // System Idle Process (pid 0, ppid 0) is not its own child, nor anyone's ancestor
    expect((await table.treeOf(0)).map((p) => p.pid)).toEqual([4, 132, 596]);
    expect((await table.ancestorsOf(596)).map((p) => p.pid)).toEqual([4]);
  });
});
