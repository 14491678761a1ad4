/** The helper's built-in corpus: short notes about the failure modes spawnguard exists for. */
export interface Document {
  id: string;
  title: string;
  text: string;
}

export const DOCUMENTS: readonly Document[] = [
  {
    id: 'storm',
    title: 'Spawn storm',
    text: 'Many short-lived hook processes each start the same background worker at once, and each worker starts its own helper subprocesses: hundreds of processes appear within minutes.',
  },
  {
    id: 'field-helpers',
    title: '641 helpers in five minutes',
    text: 'A field report counted 641 helper processes spawned in five minutes by hooks racing to start one daemon each.',
  },
  {
    id: 'field-workers',
    title: '19 concurrent workers',
    text: 'Nineteen worker daemons ran at the same time on one machine because every launcher spawned its own worker instead of waiting for health.',
  },
  {
    id: 'field-leaks',
    title: 'Leaked processes',
    text: 'More than one thousand leaked processes were left behind after workers crashed and their children were orphaned and reparented to init.',
  },
  {
    id: 'field-swap',
    title: '70 GB of swap',
    text: 'Orphaned helpers held memory until the system used 70 GB of swap and WSL2 and desktop sessions crashed.',
  },
  {
    id: 'mutex',
    title: 'Spawn mutex',
    text: 'Only one launcher holds the lock file and spawns the daemon; the others wait for the health endpoint with jittered backoff.',
  },
  {
    id: 'bind',
    title: 'Bind or die',
    text: 'The worker that loses the port race exits quietly before it starts any background work or helper process.',
  },
  {
    id: 'breaker',
    title: 'Circuit breaker',
    text: 'After three consecutive failures the circuit opens and callers fail fast for a cooldown instead of restarting a crash looping process.',
  },
  {
    id: 'breaker-store',
    title: 'Shared breaker state',
    text: 'A file store shares the open circuit across short lived launcher processes so a crash looping daemon is remembered by everyone.',
  },
  {
    id: 'memo',
    title: 'Connection memo',
    text: 'Concurrent requests share one in-flight connect: two hundred searches reach one helper instead of spawning two hundred.',
  },
  {
    id: 'memo-reset',
    title: 'Close before reconnect',
    text: 'Resetting a connection closes the old helper before the reference is dropped and before a new connect starts.',
  },
  {
    id: 'invalidate',
    title: 'Generation invalidation',
    text: 'A late close event from an old connection invalidates only its own generation and never kills the new connection.',
  },
  {
    id: 'registry',
    title: 'Process registry',
    text: 'Every child the daemon spawns is recorded with its pid, start token and process group in a file written atomically.',
  },
  {
    id: 'leftovers',
    title: 'Reap leftovers',
    text: 'At boot the daemon kills the still living children of a previous dead owner, proven by identity and never by name pattern.',
  },
  {
    id: 'identity',
    title: 'Process identity',
    text: 'A pid alone can be reused; pid plus start token identifies one incarnation of a process and survives PID reuse.',
  },
  {
    id: 'tree',
    title: 'Kill the whole tree',
    text: 'Stopping a helper sends SIGTERM to its whole process tree, waits a grace period, then sends SIGKILL to what is left.',
  },
  {
    id: 'proc',
    title: 'Reading /proc',
    text: 'On Linux the process table is read from /proc without starting a child process; the start time is field 22 of the stat file.',
  },
  {
    id: 'ps',
    title: 'Bounded ps',
    text: 'On macOS one bounded ps call lists processes; on Windows one bounded PowerShell Get-CimInstance query, never wmic.',
  },
  {
    id: 'singleflight',
    title: 'Single flight listing',
    text: 'Concurrent callers share one process listing, and a listing that times out is killed, so listings never pile up.',
  },
  {
    id: 'hook-budget',
    title: 'Hook budget',
    text: 'A hook fails open: it returns within its time budget and exits zero even when the worker cannot be reached.',
  },
  {
    id: 'hook-lean',
    title: 'Lean hooks',
    text: 'The hook fast path posts one HTTP request and imports nothing heavy; the lock and breaker load only on the slow path.',
  },
  {
    id: 'loopback',
    title: 'Loopback literal',
    text: 'The daemon binds the literal 127.0.0.1 and clients dial the same literal, never localhost, which may resolve to IPv6 first.',
  },
  {
    id: 'rebinding',
    title: 'DNS rebinding',
    text: 'Requests whose Host header is not the loopback address and port, or whose Origin is foreign, are refused with 403.',
  },
  {
    id: 'token',
    title: 'Shutdown token',
    text: 'The shutdown route requires a bearer token read from a file that only the owner can read.',
  },
  {
    id: 'home',
    title: 'Private home folder',
    text: 'State files live in a per-user folder created with mode 0700; a folder owned by someone else or readable by others is refused.',
  },
  {
    id: 'limits',
    title: 'Request limits',
    text: 'Bodies over 64 KiB are refused with 413 without being buffered, and malformed JSON gets 400 with a message.',
  },
  {
    id: 'sighup',
    title: 'SIGHUP',
    text: 'SIGHUP restarts the worker in place: same pid and port, helper trees killed, configuration reloaded, helper respawned lazily.',
  },
  {
    id: 'sigterm',
    title: 'Graceful shutdown',
    text: 'SIGTERM stops accepting connections, drains in-flight requests within a bound, kills child trees and removes the pid file.',
  },
  {
    id: 'metrics',
    title: 'Prometheus metrics',
    text: 'The metrics route exposes spawns, breaker state and transitions, connections, reaped processes and request counts by route and status.',
  },
  {
    id: 'naive',
    title: 'Naive mode',
    text: 'Naive mode turns every defence off so the storm can be reproduced side by side; naive daemons exit after a time to live.',
  },
  {
    id: 'mcp',
    title: 'MCP stdio helper',
    text: 'The helper is a Model Context Protocol server speaking JSON-RPC over stdin and stdout, with a search tool over an in-memory vector store.',
  },
  {
    id: 'vector',
    title: 'Bag of words',
    text: 'The vector store turns each document into a bag of words and ranks documents by cosine similarity with the query.',
  },
  {
    id: 'orphans',
    title: 'Orphans',
    text: 'When a parent dies its children are reparented; without a registry nobody remembers to stop them and they leak memory.',
  },
  {
    id: 'zombies',
    title: 'Zombies',
    text: 'A child that exited but was not waited for stays as a zombie entry in the process table until its parent reaps it.',
  },
  {
    id: 'pgid',
    title: 'Process groups',
    text: 'Helpers are spawned detached as process group leaders so their grandchildren can be found and stopped together.',
  },
  {
    id: 'windows',
    title: 'Windows',
    text: 'On Windows there are no process groups or signals; taskkill with the tree flag stops a process and its descendants.',
  },
];
