import { closeSync, renameSync, statSync, writeSync } from 'node:fs';
import { openAppendStateFileSync } from '@spawnguard/internal';

/**
 * Structured log: one JSON line per event, appended synchronously (a daemon that crashes right
 * after logging still leaves the line behind), capped in size by rotating once to `<file>.1`.
 * Two files of at most `maxBytes` each: a spawn storm can fill a log, never a disk.
 */
export interface Logger {
  log(event: string, fields?: Record<string, unknown>): void;
  warn(event: string, fields?: Record<string, unknown>): void;
  error(event: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  file: string;
  maxBytes: number;
  /** Fields on every line (pid, naive). */
  base?: Record<string, unknown>;
  /** Foreground daemons also echo each line here. */
  echo?: NodeJS.WritableStream | undefined;
  now?: () => number;
}

export function createLogger(options: LoggerOptions): Logger {
  const { file, maxBytes, base = {}, echo, now = Date.now } = options;
  let size: number | null = null;

  function currentSize(): number {
    if (size === null) {
      try {
        size = statSync(file).size;
      } catch {
        size = 0;
      }
    }
    return size;
  }

  function write(level: string, event: string, fields: Record<string, unknown> = {}): void {
    let line: string;
    try {
      line = `${JSON.stringify({ t: new Date(now()).toISOString(), level, event, ...base, ...fields }, errorReplacer)}\n`;
    } catch {
      line = `${JSON.stringify({ t: new Date(now()).toISOString(), level, event, ...base, unserializable: true })}\n`;
    }
    const bytes = Buffer.byteLength(line);
    try {
      if (currentSize() > 0 && currentSize() + bytes > maxBytes) {
        renameSync(file, `${file}.1`);
        size = 0;
      }
      // Never appendFileSync: a FIFO at the log path would block the daemon on its first line.
      const fd = openAppendStateFileSync(file);
      try {
        writeSync(fd, line);
      } finally {
        closeSync(fd);
      }
      size = currentSize() + bytes;
    } catch {
      // Logging must never take the daemon down (full disk, folder removed under us, a FIFO or a
      // link planted at the path: refused, the line is dropped, the echo below still shows it).
      size = null;
    }
    echo?.write(line);
  }

  return {
    log: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  }
  return value;
}

/** For code paths that must not write files (tests, the hook fast path). */
export const silentLogger: Logger = { log() {}, warn() {}, error() {} };
