/**
 * `spawnguard-worker mcp <name>`: the stdio command an editor launches in place of MCP server
 * <name>. It makes sure the worker runs exactly as `hook` does (proven identity first, then
 * spawn-mutex, the shared spawn breaker, bind-or-die in the daemon), then forwards JSON-RPC lines
 * between its stdin/stdout and the host's `/mcp/<name>`, untouched: the client sees the server's
 * tools, resources, prompts, progress, logging and its requests (sampling, elicitation, roots), and
 * answers them itself.
 *
 * When the worker dies mid-session: requests in flight get a JSON-RPC error at once; the next
 * worker is ensured through the mutex (30 bridges make 1 daemon), a new session is opened with the
 * client's own initialize, and what the client had set up (resource subscriptions, log level) is
 * restored.
 *
 * Order: the host receives a client's messages in the order the client wrote them. Each is passed on
 * only once the host has taken the one before (its POST's response headers arrived); the answers
 * still come concurrently. So a `notifications/cancelled` never overtakes its (large) request, nor
 * an unsubscribe its subscribe.
 *
 * Ending: however the bridge is ended that it can notice (SIGINT, SIGHUP, SIGTERM, SIGQUIT, SIGBREAK
 * on Windows; stdin closed; stdout gone, EPIPE; the parent gone), it ends its session at the host
 * (a DELETE, waited for at most `endSessionMs`, so a dead worker cannot hold the exit), then exits:
 * 128 + the signal's number after a signal, 0 otherwise. A second signal exits at once.
 *
 * Bad input on stdin gets a JSON-RPC error, never a hang; an oversized line is answered with its
 * own id when its first or last `idScanBytes` hold it (line-id.ts).
 */
import { constants } from 'node:os';
import { untilAborted } from '@spawnguard/internal';
import { probeWorker, unprovenMessage } from '../client/identity.js';
import { type Config, MCP_BODY_LIMIT } from '../config/config.js';
import { homePaths } from '../config/home.js';
import { type BridgeOptions, resolveBridgeOptions } from './bridge-options.js';
import { SessionSetup } from './bridge-setup.js';
import { idOfCutLine } from './line-id.js';
import { readLines } from './stdin-lines.js';
import {
  HostHttpError,
  HostUnreachableError,
  McpHttpClient,
  type Message,
  type PostOptions,
} from './streamable-http-client.js';

const CODE = { parse: -32700, invalid: -32600, notInitialized: -32002, host: -32000 } as const;
/** How long a bridge keeps trying to bring a worker back before it answers requests with errors. */
const RECOVER_BUDGET_MS = 60_000;

type Id = string | number;
const idKey = (id: unknown) => (typeof id === 'number' ? `n:${id}` : `s:${String(id)}`);

/** The signals a bridge ends on (those this platform has); SIGBREAK is Windows' Ctrl+Break. */
const END_SIGNALS = (['SIGINT', 'SIGHUP', 'SIGTERM', 'SIGQUIT', 'SIGBREAK'] as const).filter(
  (signal) => constants.signals[signal] !== undefined,
);

type EndReason = (typeof END_SIGNALS)[number] | 'stdin closed' | 'stdout closed' | 'parent gone';

/** 128 + the signal's number after a signal (what a shell reports), 0 for every other end. */
const exitCodeOf = (reason: EndReason): number => {
  const signo = constants.signals[reason as NodeJS.Signals];
  return signo === undefined ? 0 : 128 + signo;
};

export async function runBridge(config: Config, name: string, options: BridgeOptions = {}): Promise<number> {
  const bridge = new Bridge(config, name, options);
  return bridge.run();
}

/** A request sent to the host and not answered yet; `abort` drops its POST (the client cancelled it). */
interface InFlight {
  id: Id;
  abort: AbortController;
}

class Bridge {
  #client: McpHttpClient | null = null;
  /** What the client set up (its initialize first), restored in a new session after a restart. */
  readonly #setup = new SessionSetup();
  /** Client requests sent to the host and not answered yet: failed at once if the host goes. */
  readonly #inFlight = new Map<string, InFlight>();
  /** The client's messages, one after another: each step ends when the host has taken the message. */
  #queue: Promise<void> = Promise.resolve();
  #recovering: Promise<boolean> | null = null;
  #starting: Promise<void> | null = null;
  #closing = false;
  #exit!: (code: number) => void;
  readonly #options: Required<BridgeOptions>;

  constructor(
    readonly config: Config,
    readonly name: string,
    options: BridgeOptions = {},
  ) {
    this.#options = resolveBridgeOptions(options);
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => {
      this.#exit = resolve;
    });
    for (const signal of END_SIGNALS) process.on(signal, () => void this.#shutdown(signal));
    process.stdout.on('error', () => void this.#shutdown('stdout closed'));
    readLines(process.stdin, {
      maxBytes: MCP_BODY_LIMIT,
      keepBytes: this.#options.idScanBytes,
      onLine: (line) => this.#onLine(line),
      onOversized: (bytes, ends) => {
        const id = idOfCutLine(ends.head.toString('utf8'), ends.tail.toString('utf8'));
        this.#reply(id ?? null, CODE.invalid, `message is ${bytes} bytes; the limit is ${MCP_BODY_LIMIT}`);
      },
      onEnd: () => void this.#shutdown('stdin closed'),
    });
    // An editor that dies without closing our stdin (SIGKILL of a parent that leaked the pipe):
    // we are re-parented. Checked twice a second.
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid !== parent) void this.#shutdown('parent gone');
    }, 500);
    watch.unref();
    return done;
  }

  #write(message: Message): void {
    if (this.#closing && message.id === undefined) return;
    process.stdout.write(`${JSON.stringify(message)}\n`);
  }

  #reply(id: unknown, code: number, message: string, data?: unknown): void {
    this.#write({
      jsonrpc: '2.0',
      id: (id ?? null) as Id,
      error: { code, message, ...(data === undefined ? {} : { data }) },
    });
  }

  #onLine(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch (error) {
      this.#reply(null, CODE.parse, `Parse error: stdin line is not JSON (${(error as Error).message})`);
      return;
    }
    if (
      typeof message !== 'object' ||
      message === null ||
      Array.isArray(message) ||
      (message as Message).jsonrpc !== '2.0'
    ) {
      const id = (message as Message | null)?.id;
      this.#reply(
        typeof id === 'string' || typeof id === 'number' ? id : null,
        CODE.invalid,
        'Invalid Request: not a JSON-RPC 2.0 message',
      );
      return;
    }
    // In order: a message is handled once the one before it has been taken by the host.
    const valid = message as Message;
    this.#queue = this.#queue.then(() => this.#handle(valid).catch((error: unknown) => this.#bug(valid, error)));
  }

  /** Never a crash, never a silent drop: a request that hit a bug still gets an answer. */
  #bug(message: Message, error: unknown): void {
    const id = message.id;
    if (typeof message.method === 'string' && (typeof id === 'string' || typeof id === 'number')) {
      this.#reply(id, CODE.host, `spawnguard bridge error: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /** Resolves when the message has been taken by the host (or answered here); its answer may still be on its way. */
  async #handle(message: Message): Promise<void> {
    if (this.#closing) return;
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    if (message.method === 'initialize' && isRequest) {
      // Whole: what the client sends next needs the session this opens.
      this.#starting = this.#initialize(message).finally(() => {
        this.#starting = null;
      });
      return this.#starting;
    }
    if (!this.#client?.sessionId && !this.#recovering) {
      if (isRequest) {
        this.#reply(message.id, CODE.notInitialized, 'Server not initialized: send initialize first');
      }
      return; // a notification or response before initialize has nowhere to go
    }
    if (this.#recovering && !(await this.#recovering)) {
      if (isRequest) this.#reply(message.id, CODE.host, this.#downMessage());
      return;
    }
    if (message.method === 'notifications/initialized') this.#setup.initialized = true;
    await this.#forward(message);
    if (message.method === 'notifications/cancelled') this.#cancelled(message);
  }

  /**
   * The host has the client's cancellation (and, before it, the request): the request gets no answer,
   * so its answer stream is dropped here (it would hold a socket), and its end is no sign of a lost worker.
   */
  #cancelled(message: Message): void {
    const key = idKey((message.params as { requestId?: unknown } | undefined)?.requestId);
    const request = this.#inFlight.get(key);
    if (!request) return;
    this.#inFlight.delete(key);
    request.abort.abort();
  }

  #downMessage(): string {
    return `the spawnguard worker for "${this.name}" is not reachable on 127.0.0.1:${this.config.port} (still retrying)`;
  }

  /** Proven worker (fast path), else the launcher's slow path: the same as a hook. */
  async #ensure(budgetMs: number): Promise<{ token: string } | { error: string }> {
    const tokenPath = homePaths(this.config.home).token;
    const fast = await probeWorker(this.config, tokenPath, { timeoutMs: 1000, sameVersion: false }).catch(() => null);
    if (fast?.probe.kind === 'ours' && fast.token) return { token: fast.token };
    if (fast?.probe.kind === 'unproven') return { error: unprovenMessage(this.config, fast.probe) };
    const { ensureWorker } = await import('../client/launcher.js');
    const signal = AbortSignal.timeout(budgetMs);
    const started = await ensureWorker(this.config, { signal, budgetMs }).catch((error: Error) => ({
      ok: false,
      via: 'error',
      message: error.message,
    }));
    if (!started.ok) return { error: started.message ?? 'could not start the worker' };
    const proven = await probeWorker(this.config, tokenPath, { timeoutMs: 2000, sameVersion: false });
    if (proven.probe.kind === 'ours' && proven.token) return { token: proven.token };
    return { error: proven.probe.reason };
  }

  #newClient(token: string): McpHttpClient {
    this.#client?.close();
    this.#client = new McpHttpClient({ port: this.config.port, path: `/mcp/${encodeURIComponent(this.name)}`, token });
    return this.#client;
  }

  async #initialize(message: Message): Promise<void> {
    if (this.#setup.hello) {
      this.#reply(message.id, CODE.invalid, 'Invalid Request: the session is already initialized');
      return;
    }
    const ready = await this.#ensure(Math.max(this.config.hookBudgetMs, 30_000));
    if (this.#closing) return; // ended meanwhile: open no session that nobody would end
    if ('error' in ready) {
      this.#reply(message.id, CODE.host, `cannot reach MCP server "${this.name}" through spawnguard: ${ready.error}`);
      return;
    }
    const client = this.#newClient(ready.token);
    let ok = false;
    let answered = false;
    try {
      await this.#post(client, message, (reply) => {
        if (reply.id === message.id) answered = true;
        if (reply.id === message.id && reply.result) {
          ok = true;
          client.protocolVersion = String((reply.result as { protocolVersion?: unknown }).protocolVersion ?? '');
        }
        this.#write(reply);
      });
    } catch (error) {
      // 404 (no such server at the worker), 401 (token changed under us), or the worker went away.
      if (!answered)
        this.#reply(
          message.id,
          CODE.host,
          `cannot open MCP server "${this.name}" through spawnguard: ${(error as Error).message}`,
        );
    }
    if (ok) {
      this.#setup.hello = message;
      this.#openStream(client);
    } else client.forget();
  }

  /** POST with HTTP and network failures turned into a JSON-RPC error for the request. */
  async #post(
    client: McpHttpClient,
    message: Message,
    onMessage: (m: Message) => void,
    options: PostOptions = {},
  ): Promise<void> {
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    try {
      await client.post(message, onMessage, options);
    } catch (error) {
      if (error instanceof HostHttpError && error.status !== 404 && error.status !== 401) {
        if (isRequest) this.#reply(message.id, CODE.host, `spawnguard host answered ${error.status}: ${error.message}`);
        return;
      }
      throw error;
    }
  }

  /** Sends one message; resolves once the host has taken it (or the POST failed), not when it is answered. */
  #forward(message: Message): Promise<void> {
    return new Promise<void>((taken) => {
      this.#exchange(message, taken)
        .catch((error: unknown) => this.#bug(message, error))
        .finally(taken);
    });
  }

  /** One message's whole exchange: the POST, its answer, and what a failure means. */
  async #exchange(message: Message, onAccepted: () => void): Promise<void> {
    const client = this.#client!;
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    const key = isRequest ? idKey(message.id) : '';
    const mine: InFlight = { id: message.id as Id, abort: new AbortController() };
    if (isRequest) this.#inFlight.set(key, mine);
    const open = () => this.#inFlight.get(key) === mine;
    try {
      await this.#post(
        client,
        message,
        (reply) => {
          if (isRequest && reply.id === message.id && reply.method === undefined && open()) {
            this.#inFlight.delete(key);
            if (reply.result !== undefined) this.#setup.remember(message);
          }
          this.#write(reply);
        },
        { onAccepted, signal: mine.abort.signal },
      );
      if (isRequest && open()) {
        // The stream ended without the answer: the worker went away mid-request.
        this.#inFlight.delete(key);
        throw new HostUnreachableError('the answer stream ended without a response');
      }
    } catch (error) {
      if (mine.abort.signal.aborted) return; // the client cancelled it: no answer is due
      if (!(error instanceof HostUnreachableError) && !(error instanceof HostHttpError)) throw error;
      if (client !== this.#client) {
        // An older session's request: the recovery already answered it.
        return;
      }
      this.#lost(`${error.message}`);
    }
  }

  #openStream(client: McpHttpClient): void {
    client
      .stream((message) => this.#write(message))
      .then(
        (how) => {
          if (how === 'ended' && client === this.#client && !this.#closing)
            this.#lost('the host ended the session stream');
        },
        (error: Error) => {
          if (client === this.#client && !this.#closing) this.#lost(error.message);
        },
      );
  }

  /** The worker (or the session) is gone: fail what is in flight, then bring a new one up. */
  #lost(why: string): void {
    if (this.#closing || this.#recovering) return;
    this.#client?.forget();
    for (const { id } of this.#inFlight.values()) {
      this.#reply(id, CODE.host, `the spawnguard worker went away before answering (${why}); reconnecting`);
    }
    this.#inFlight.clear();
    this.#recovering = this.#recover().finally(() => {
      this.#recovering = null;
    });
  }

  async #recover(): Promise<boolean> {
    const deadline = Date.now() + RECOVER_BUDGET_MS;
    for (let delay = 50; !this.#closing && Date.now() < deadline; delay = Math.min(delay * 2, 2000)) {
      const ready = await this.#ensure(Math.min(15_000, Math.max(1000, deadline - Date.now())));
      if ('token' in ready && (await this.#reopen(ready.token))) return true;
      await new Promise((resolve) => setTimeout(resolve, delay + Math.random() * delay));
    }
    return false;
  }

  /** A new session with the client's own initialize, then what it had set up. */
  async #reopen(token: string): Promise<boolean> {
    const client = this.#newClient(token);
    try {
      if (!(await this.#setup.replay(client, (message) => this.#write(message)))) return false;
      this.#openStream(client);
      return true;
    } catch {
      client.forget();
      return false;
    }
  }

  async #shutdown(reason: EndReason): Promise<void> {
    const code = exitCodeOf(reason);
    if (this.#closing) {
      if (code !== 0) process.exit(code); // a second signal: the user means now
      return;
    }
    this.#closing = true;
    // The session ends now, not after the host's idle expiry: its requests are cancelled there.
    // All of it within endSessionMs: an initialize on its way first (its session would be left
    // behind), then the DELETE.
    const deadline = Date.now() + this.#options.endSessionMs;
    if (this.#starting)
      await untilAborted(this.#starting, AbortSignal.timeout(this.#options.endSessionMs)).catch(() => {});
    await this.#client?.terminate(Math.max(0, deadline - Date.now())).catch(() => {});
    this.#client?.close();
    this.#exit(code);
  }
}
