/**
 * spawnguard-worker: the command line. Deliberately thin: it parses arguments with node:util and
 * loads the module for the one command it runs (dynamic import), so `hook` — which runs on every
 * editor/agent event — never loads the daemon, the MCP SDK or the lock code on its fast path.
 */
import { parseArgs } from 'node:util';

const USAGE = `Usage: spawnguard-worker <command> [options]

Commands:
  start             Start the worker in the background; exits 0 at once when a healthy one runs.
  stop              Stop the worker: POST /shutdown with the token, then signals to the recorded
                    pid (identity-checked), bounded.
  restart           stop, then start.
  status            Show pid, port, version, uptime, children, breaker states, leftovers reaped.
  hook <event>      Deliver one event to the worker, starting it if needed. Always exits 0 within
                    its budget (fails open); prints one short line on stderr when it could not.
  daemon            Run the worker in the foreground.
  mcp <name>        The stdio MCP server <name> for an editor to launch: ensures the worker (as
                    hook does) and forwards stdin/stdout to its /mcp/<name>; survives a worker
                    restart; ends its session and exits when stdin closes or on a signal.
  import <file>     Read a Claude Desktop, Claude Code, Cursor, VS Code, Gemini CLI or Codex MCP
                    config; print the host's
                    servers.json and the config whose entries launch the bridge instead
                    (--write applies both, backing the original up first).

Options:
  --port <n>        TCP port on 127.0.0.1 (env SPAWNGUARD_PORT; default 37700 + uid % 100).
  --home <dir>      State folder, 0700 (env SPAWNGUARD_HOME; default $XDG_RUNTIME_DIR/spawnguard
                    or ~/.spawnguard).
  --config <file>   The MCP servers to host, {"mcpServers": {...}} (env SPAWNGUARD_CONFIG;
                    default <home>/servers.json, else the built-in demo server).
  --payload <json>  hook: JSON payload sent with the event ("-" reads it from stdin).
  --budget-ms <n>   hook: total time budget (env SPAWNGUARD_HOOK_BUDGET_MS; default 5000).
  --json            status, import: print JSON.
  --write           import: write servers.json and the client config (with a backup).
  --from <format>   import: claude-desktop, claude-code, cursor, vscode, gemini or codex
                    (default: from the file's name and content).
  --naive           UNSAFE DEMO MODE: every defence off (no spawn lock, no bind-or-die, no
                    connection memo, no breaker, no reaper), to reproduce the spawn storm side
                    by side. Naive daemons exit by themselves after SPAWNGUARD_NAIVE_TTL_MS (60 s).
  -h, --help        Show this help.
  -v, --version     Show the version.
`;

const COMMANDS: Record<string, string[]> = {
  start: ['port', 'home', 'naive', 'config'],
  stop: ['port', 'home'],
  restart: ['port', 'home', 'naive', 'config'],
  status: ['port', 'home', 'json'],
  hook: ['port', 'home', 'naive', 'payload', 'budget-ms', 'config'],
  daemon: ['port', 'home', 'naive', 'config'],
  import: ['port', 'home', 'write', 'from', 'json'],
  mcp: ['port', 'home', 'config', 'budget-ms'],
};

/** How many positionals each command takes after its name. */
const ARITY: Record<string, number> = { hook: 1, import: 1, mcp: 1 };

function usageError(message: string): number {
  process.stderr.write(`spawnguard-worker: ${message}\n\n${USAGE}`);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (values.version) {
    const { VERSION } = await import('./shared/version.js');
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const [command, ...rest] = positionals;
  if (command === undefined) return usageError('missing command');
  const allowed = COMMANDS[command];
  if (!allowed) return usageError(`unknown command ${JSON.stringify(command)}`);
  for (const name of Object.keys(values)) {
    if (!allowed.includes(name)) return usageError(`option --${name} is not valid for ${command}`);
  }
  const arity = ARITY[command] ?? 0;
  if (rest.length !== arity) {
    if (command === 'hook') return usageError('hook takes exactly one <event> name');
    if (command === 'import') return usageError('import takes exactly one <config file>');
    if (command === 'mcp') return usageError('mcp takes exactly one <server name>');
    return usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  }

  const { resolveConfig, UsageError } = await import('./config/config.js');
  let config: ReturnType<typeof resolveConfig>;
  try {
    config = resolveConfig(values);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    throw error;
  }

  switch (command) {
    case 'hook': {
      const { runHook } = await import('./client/hook.js');
      return runHook(config, rest[0]!, values.payload);
    }
    case 'mcp': {
      const [{ runBridge }, { bridgeOptionsFromEnv }] = await Promise.all([
        import('./bridge/bridge.js'),
        import('./bridge/bridge-options.js'),
      ]);
      let options: ReturnType<typeof bridgeOptionsFromEnv>;
      try {
        options = bridgeOptionsFromEnv();
      } catch (error) {
        if (error instanceof UsageError) return usageError(error.message);
        throw error;
      }
      return runBridge(config, rest[0]!, options);
    }
    case 'import': {
      const { runImport } = await import('./import/import-command.js');
      return runImport(config, {
        file: rest[0]!,
        write: values.write === true,
        json: values.json === true,
        from: values.from,
      });
    }
    case 'daemon': {
      const { runDaemon } = await import('./daemon/boot.js');
      return runDaemon(config);
    }
    case 'start': {
      const { start } = await import('./client/control.js');
      return start(config);
    }
    case 'stop': {
      const { stop } = await import('./client/control.js');
      return stop(config);
    }
    case 'restart': {
      const { restart } = await import('./client/control.js');
      return restart(config);
    }
    default: {
      const { status } = await import('./client/control.js');
      return status(config, values.json === true);
    }
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      port: { type: 'string' },
      home: { type: 'string' },
      payload: { type: 'string' },
      config: { type: 'string' },
      'budget-ms': { type: 'string' },
      json: { type: 'boolean' },
      write: { type: 'boolean' },
      from: { type: 'string' },
      naive: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    // The daemon returns -1: it keeps running on its own handles. Every other command ends here,
    // even if a library left a handle open (the hook must never outstay its budget).
    if (code === -1) return;
    process.exitCode = code;
    setTimeout(() => process.exit(code), 100).unref();
  },
  (error: unknown) => {
    process.stderr.write(`spawnguard-worker: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
