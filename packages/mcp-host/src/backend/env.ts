/**
 * The environment a backend starts with: a small set of variables every program needs (never the
 * whole environment of the host, which may hold tokens for other tools), plus the server's `env`.
 */

const POSIX = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TERM', 'TMPDIR', 'TZ'];

/** What Windows programs (and node, npx, python) need to find the system, the user's profile and temp files. */
const WINDOWS = [
  'APPDATA',
  'COMSPEC',
  'HOMEDRIVE',
  'HOMEPATH',
  'LOCALAPPDATA',
  'PATH',
  'PATHEXT',
  'PROCESSOR_ARCHITECTURE',
  'PROGRAMDATA',
  'PROGRAMFILES',
  'PROGRAMFILES(X86)',
  'SYSTEMDRIVE',
  'SYSTEMROOT',
  'TEMP',
  'TMP',
  'USERDOMAIN',
  'USERNAME',
  'USERPROFILE',
  'WINDIR',
];

export const DEFAULT_ENV_KEYS: Readonly<Record<'posix' | 'win32', readonly string[]>> = {
  posix: POSIX,
  win32: WINDOWS,
};

/**
 * `source` filtered to the default keys for `platform`, then `extra` on top. On Windows variable
 * names are case-insensitive (`Path`), so keys are matched without case there.
 */
export function backendEnv(
  platform: NodeJS.Platform,
  source: NodeJS.ProcessEnv,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  if (platform === 'win32') {
    const wanted = new Set(WINDOWS);
    for (const [key, value] of Object.entries(source)) {
      if (value !== undefined && wanted.has(key.toUpperCase())) env[key] = value;
    }
    for (const [key, value] of Object.entries(extra)) {
      for (const existing of Object.keys(env)) if (existing.toUpperCase() === key.toUpperCase()) delete env[existing];
      env[key] = value;
    }
    return env;
  }
  for (const key of POSIX) {
    const value = source[key];
    if (value !== undefined) env[key] = value;
  }
  return Object.assign(env, extra);
}
