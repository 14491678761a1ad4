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
 * restored. Stdin closed or the parent gone: the session is ended and the bridge exits within a
 * second. Bad input on stdin gets a JSON-RPC error, never a hang.
 */

import { SessionSetup } from './bridge-setup.js';
import { type Config, MCP_BODY_LIMIT } from './config.js';
import { homePaths } from './home.js';
import { probeWorker, unprovenMessage } from './identity.js';
import { HostHttpError, HostUnreachableError, McpHttpClient, type Message } from './mcp-http-client.js';
import { readLines } from './stdin-lines.js';

const CODE = { parse: -32700, invalid: -32600, notInitialized: -32002, host: -32000 } as const;
/** How long a bridge keeps trying to bring a worker back before it answers requests with errors. */
const RECOVER_BUDGET_MS = 60_000;

type Id = string | number;
const idKey = (id: unknown) => (typeof id === 'number' ? `n:${id}` : `s:${String(id)}`);

export async function runBridge(config: Config, name: string): Promise<number> {
  const bridge = new Bridge(config, name);
  return bridge.run();
}

class Bridge {
  #client: McpHttpClient | null = null;
  /** What the client set up (its initialize first), restored in a new session after a restart. */
  readonly #setup = new SessionSetup();
  /** Client requests sent to the host and not answered yet: failed at once if the host goes. */
  readonly #inFlight = new Map<string, Id>();
  #recovering: Promise<boolean> | null = null;
  #starting: Promise<void> | null = null;
  #closing = false;
  #exit!: (code: number) => void;

  constructor(
    readonly config: Config,
    readonly name: string,
  ) {}

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => {
      this.#exit = resolve;
    });
    process.stdout.on('error', () => void this.#shutdown('stdout closed'));
    readLines(process.stdin, {
      maxBytes: MCP_BODY_LIMIT,
      onLine: (line) => this.#onLine(line),
      onOversized: (bytes) =>
        this.#reply(null, CODE.invalid, `message is ${bytes} bytes; the limit is ${MCP_BODY_LIMIT}`),
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
    this.#handle(message as Message).catch((error: unknown) => {
      // Never a crash, never a silent drop: a request that hit a bug still gets an answer.
      const id = (message as Message).id;
      if (typeof (message as Message).method === 'string' && (typeof id === 'string' || typeof id === 'number')) {
        this.#reply(id, CODE.host, `spawnguard bridge error: ${(error as Error).message}`);
      }
    });
  }

  async #handle(message: Message): Promise<void> {
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    if (message.method === 'initialize' && isRequest && !this.#starting) {
      this.#starting = this.#initialize(message).finally(() => {
        this.#starting = null;
      });
      return this.#starting;
    }
    // What a client sends while its initialize is still on its way waits for it, in order.
    if (this.#starting) await this.#starting;
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
    const { ensureWorker } = await import('./launcher.js');
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
  async #post(client: McpHttpClient, message: Message, onMessage: (m: Message) => void): Promise<void> {
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    try {
      await client.post(message, onMessage);
    } catch (error) {
      if (error instanceof HostHttpError && error.status !== 404 && error.status !== 401) {
        if (isRequest) this.#reply(message.id, CODE.host, `spawnguard host answered ${error.status}: ${error.message}`);
        return;
      }
      throw error;
    }
  }

  async #forward(message: Message): Promise<void> {
    const client = this.#client!;
    const isRequest = typeof message.method === 'string' && message.id !== undefined;
    const key = isRequest ? idKey(message.id) : '';
    if (isRequest) this.#inFlight.set(key, message.id as Id);
    try {
      await this.#post(client, message, (reply) => {
        if (isRequest && reply.id === message.id && reply.method === undefined) {
          this.#inFlight.delete(key);
          if (reply.result !== undefined) this.#setup.remember(message);
        }
        this.#write(reply);
      });
      if (isRequest && this.#inFlight.delete(key)) {
        // The stream ended without the answer: the worker went away mid-request.
        throw new HostUnreachableError('the answer stream ended without a response');
      }
    } catch (error) {
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
    for (const id of this.#inFlight.values()) {
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

  async #shutdown(why: string): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    // The session ends now, not after the host's idle expiry: its requests are cancelled there.
    await this.#client?.terminate(400).catch(() => {});
    this.#client?.close();
    void why;
    this.#exit(0);
  }
}
