import type { ProcessInfo } from './types.js';

const SELECT = 'Select-Object ProcessId,ParentProcessId,Name,CommandLine,CreationDate | ConvertTo-Json -Compress';

/**
 * The PowerShell script for one listing (or one pid). Get-CimInstance, never wmic (deprecated,
 * absent on new Windows). Output is forced to UTF-8 so that non-ASCII names survive.
 */
export function windowsScript(pid?: number): string {
  const filter = pid === undefined ? '' : ` -Filter 'ProcessId=${pid}'`;
  return (
    '$ErrorActionPreference = "Stop"; [Console]::OutputEncoding = [System.Text.Encoding]::UTF8; ' +
    `Get-CimInstance -ClassName Win32_Process${filter} | ${SELECT}`
  );
}

/** Arguments for powershell.exe; the script travels base64 UTF-16LE so no quoting rule can bite. */
export function windowsPowerShellArgs(pid?: number): string[] {
  const encoded = Buffer.from(windowsScript(pid), 'utf16le').toString('base64');
  return ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-EncodedCommand', encoded];
}

export const WINDOWS_SHELL = 'powershell.exe';

interface Win32Process {
  ProcessId?: unknown;
  ParentProcessId?: unknown;
  Name?: unknown;
  CommandLine?: unknown;
  CreationDate?: unknown;
}

/**
 * Parses `... | ConvertTo-Json -Compress` of Win32_Process: an array, a single object (one
 * process), or nothing at all (no match). Entries without a numeric ProcessId are skipped.
 */
export function parseWin32ProcessJson(output: string | Buffer): ProcessInfo[] {
  const text = (typeof output === 'string' ? output : output.toString('utf8')).replace(/^\uFEFF/, '').trim();
  if (text === '') return [];
  const parsed: unknown = JSON.parse(text);
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const out: ProcessInfo[] = [];
  for (const item of items as Win32Process[]) {
    if (!item || typeof item !== 'object') continue;
    const pid = item.ProcessId;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid)) continue;
    const ppid = typeof item.ParentProcessId === 'number' ? item.ParentProcessId : 0;
    const startTime = parseCimDate(item.CreationDate) ?? 0;
    out.push({
      pid,
      ppid,
      uid: -1,
      name: typeof item.Name === 'string' ? item.Name : '',
      cmdline: typeof item.CommandLine === 'string' ? parseWindowsCommandLine(item.CommandLine) : [],
      startTime,
      startToken: `${pid}:${startTime}`,
    });
  }
  return out;
}

const DMTF = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)\.(\d{6})([+-])(\d{3})$/;
const MS_DATE = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/;

/**
 * CreationDate as CIM JSON carries it, to epoch ms, or null:
 * - Windows PowerShell 5.1: "/Date(1700000000000)/" (UTC ms; an optional +hhmm is informational);
 * - PowerShell 7: ISO 8601 "2023-11-14T22:13:20.1234567+01:00";
 * - a raw DMTF datetime "20240101120000.000000+060" (local time, offset in minutes east of UTC);
 * - an ETS-wrapped date {"value": <one of the above>, "DateTime": "..."}.
 */
export function parseCimDate(value: unknown): number | null {
  if (value && typeof value === 'object' && 'value' in value) return parseCimDate((value as { value: unknown }).value);
  if (typeof value !== 'string') return null;
  const ms = MS_DATE.exec(value);
  if (ms) return Number(ms[1]);
  const d = DMTF.exec(value);
  if (d) {
    const [, y, mo, da, h, mi, s, micro, sign, offset] = d;
    const local = Date.UTC(Number(y), Number(mo) - 1, Number(da), Number(h), Number(mi), Number(s));
    const offsetMs = (sign === '-' ? -1 : 1) * Number(offset) * 60_000;
    return local - offsetMs + Math.floor(Number(micro) / 1000);
  }
  const iso = Date.parse(value);
  return Number.isNaN(iso) ? null : iso;
}

/**
 * Splits a Windows command line into argv with CommandLineToArgvW's rules (ported from Wine's
 * implementation, which matches Windows):
 * - argv[0] (the program) ends at the next space or tab, or, when it starts with a quote, at the
 *   next quote, with no escape processing at all;
 * - then: 2n backslashes + quote give n backslashes and toggle quoting; 2n+1 backslashes + quote
 *   give n backslashes and a literal quote; backslashes not followed by a quote are literal;
 * - in a quoted run, a third consecutive quote yields a literal quote ("" inside quotes).
 */
export function parseWindowsCommandLine(commandLine: string): string[] {
  const s = commandLine;
  if (s === '') return [];
  const argv: string[] = [];
  let i = 0;
  let arg = '';
  if (s[0] === '"') {
    i = 1;
    while (i < s.length && s[i] !== '"') arg += s[i++];
    if (i < s.length) i++; // closing quote
  } else {
    while (i < s.length && s[i] !== ' ' && s[i] !== '\t') arg += s[i++];
  }
  argv.push(arg);
  while (s[i] === ' ' || s[i] === '\t') i++;
  if (i >= s.length) return argv;

  arg = '';
  let quotes = 0;
  let backslashes = 0;
  while (i < s.length) {
    const c = s[i]!;
    if ((c === ' ' || c === '\t') && quotes === 0) {
      argv.push(arg);
      arg = '';
      backslashes = 0;
      while (s[i] === ' ' || s[i] === '\t') i++;
      if (i >= s.length) return argv;
    } else if (c === '\\') {
      arg += c;
      backslashes++;
      i++;
    } else if (c === '"') {
      if (backslashes % 2 === 0) {
        // 2n backslashes: keep n, and this quote opens or closes a quoted run.
        arg = arg.slice(0, arg.length - backslashes / 2);
        quotes++;
      } else {
        // 2n+1 backslashes: keep n, and the quote is literal.
        arg = `${arg.slice(0, arg.length - (backslashes + 1) / 2)}"`;
      }
      i++;
      backslashes = 0;
      // Consecutive quotes: every third one is a literal quote (Wine's qcount logic).
      while (s[i] === '"') {
        if (++quotes === 3) {
          arg += '"';
          quotes = 0;
        }
        i++;
      }
      if (quotes === 2) quotes = 0;
    } else {
      arg += c;
      backslashes = 0;
      i++;
    }
  }
  argv.push(arg);
  return argv;
}
