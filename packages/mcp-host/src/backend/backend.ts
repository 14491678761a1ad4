import type { ChildProcess } from 'node:child_process';
import type { InitializeResult, JSONRPCMessage, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { type GroupMember, groupMembers, killGroup, killTree } from '@spawnguard/orphan-reaper';
import { BackendQueueFullError, BackendStartError, JSONRPC, toJsonRpcError } from '../errors.js';
import { LineRing, LineSplitter } from './lines.js';
import type { RegistryLike } from './registry.js';

export interface BackendSpec {
  server: string;
  /** Registry session: `mcp:<server>` (shared) or `mcp:<server>:<session id>` (per-session). */
  instance: string;
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string;
  windowsHide: boolean;
  startTimeoutMs: number;
  maxLineBytes: number;
  /** Most bytes queued for its stdin (written, not yet taken by the pipe); a message that would pass it is refused. */
  maxQueueBytes: number;
  stderrLines: number;
  /** The `initialize` params the host sends. */
  initialize: { protocolVersion: string; capabilities: object; clientInfo: { name: string; version: string } };
  onOutput(stream: 'stdout' | 'stderr', line: string, pid: number): void;
  /** A message was refused (queue full); a request is also answered with the error. */
  onRefused(message: Record<string, unknown>, error: BackendQueueFullError): void;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string[];
}

type Parsed = JSONRPCMessage & { id?: unknown; method?: unknown; params?: Record<string, unknown> };

/**
 * One running MCP stdio server: a recorded child spoken to in JSON-RPC lines. Lines that are not
 * JSON-RPC go to `onOutput`, never to the protocol. Messages that arrive before a router is attached
 * (between `initialize` and attach) are kept and handed over in order.
 */
export class Backend {
  readonly pid: number;
  readonly startToken: string;
  readonly child: ChildProcess;
  readonly spec: BackendSpec;
  readonly startedAt: number;
  initResult!: InitializeResult;
  exit: ExitInfo | null = null;
  #nextId = 1;
  readonly #stderr: LineRing;
  #onMessage: ((message: Parsed) => void) | null = null;
  #early: Parsed[] = [];
  readonly #own = new Map<number, { resolve: (m: Parsed) => void }>();
  readonly #exitWaiters: Array<(info: ExitInfo) => void> = [];
  #stopping: Promise<void> | null = null;
  readonly #registry: RegistryLike;
  /** What was left of its process group when it exited (looked up at that moment, by identity). */
  #group: Promise<GroupMember[]> = Promise.resolve([]);

  private constructor(child: ChildProcess, startToken: string, spec: BackendSpec, now: number, registry: RegistryLike) {
    this.child = child;
    this.#registry = registry;
    this.pid = child.pid!;
    this.startToken = startToken;
    this.spec = spec;
    this.startedAt = now;
    this.#stderr = new LineRing(spec.stderrLines);
    const stdout = new LineSplitter(
      spec.maxLineBytes,
      (line) => this.#line(line),
      (bytes) =>
        spec.onOutput('stdout', `[mcp-host] dropped a line longer than maxLineBytes (${bytes} bytes so far)`, this.pid),
    );
    child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of this.#stderr.push(chunk)) spec.onOutput('stderr', line, this.pid);
    });
    child.stdin!.on('error', () => {}); // EPIPE after the child died: the exit handler reports it
    child.once('exit', (code, signal) => {
      // The one moment the group number proves membership (see orphan-reaper's groupMembers): a
      // backend that died by itself leaves its helpers in its group, reparented away from its tree.
      if (startToken && process.platform !== 'win32') {
        this.#group = groupMembers({ pid: this.pid, startToken }).catch(() => []);
      }
      this.exit = { code, signal, stderr: this.#stderr.tail() };
      for (const [id, own] of this.#own) {
        own.resolve({
          jsonrpc: '2.0',
          id,
          error: { code: JSONRPC.backendUnavailable, message: 'backend exited' },
        } as unknown as Parsed);
      }
      this.#own.clear();
      for (const waiter of this.#exitWaiters.splice(0)) waiter(this.exit);
    });
  }

  /** Spawns through the registry and completes the `initialize` handshake, or rejects with BackendStartError. */
  static async start(spec: BackendSpec, registry: RegistryLike, now: number, signal: AbortSignal): Promise<Backend> {
    let spawned: Awaited<ReturnType<RegistryLike['spawn']>>;
    try {
      spawned = await registry.spawn(spec.command, spec.args, {
        session: spec.instance,
        type: 'mcp-server',
        stdio: ['pipe', 'pipe', 'pipe'],
        env: spec.env,
        cwd: spec.cwd,
        windowsHide: spec.windowsHide,
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new BackendStartError(
        spec.server,
        `cannot spawn ${spec.command}: ${(error as Error).message}`,
        [],
        null,
        null,
        null,
        {
          cause: error,
        },
      );
    }
    const backend = new Backend(spawned.child, spawned.entry.startToken, spec, now, registry);
    try {
      await backend.#handshake(signal);
      return backend;
    } catch (error) {
      await backend.stop(0);
      if (signal.aborted) throw signal.reason;
      throw error;
    }
  }

  async #handshake(signal: AbortSignal): Promise<void> {
    const { spec } = this;
    const id = this.allocId();
    const reply = new Promise<Parsed>((resolve) => this.#own.set(id, { resolve }));
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const failure = new Promise<never>((_, reject) => {
      const fail = (reason: string, info?: ExitInfo) =>
        reject(
          new BackendStartError(
            spec.server,
            reason,
            info?.stderr ?? this.#stderr.tail(),
            this.pid,
            info?.code ?? null,
            info?.signal ?? null,
          ),
        );
      this.onExit((info) =>
        fail(`it exited before answering initialize (${info.signal ?? `code ${info.code}`})`, info),
      );
      timer = setTimeout(() => fail(`no answer to initialize within ${spec.startTimeoutMs} ms`), spec.startTimeoutMs);
      timer.unref();
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      this.write({ jsonrpc: '2.0', id, method: 'initialize', params: spec.initialize } as JSONRPCMessage);
      const response = await Promise.race([reply, failure]);
      if ('error' in response) {
        const error = (response as { error: { code: number; message: string } }).error;
        throw new BackendStartError(
          spec.server,
          `initialize failed: ${error.message} (${error.code})`,
          this.#stderr.tail(),
          this.pid,
        );
      }
      this.initResult = (response as unknown as { result: InitializeResult }).result;
      if (!this.initResult || typeof this.initResult.protocolVersion !== 'string') {
        throw new BackendStartError(
          spec.server,
          'initialize returned no protocolVersion',
          this.#stderr.tail(),
          this.pid,
        );
      }
      this.write({ jsonrpc: '2.0', method: 'notifications/initialized' } as JSONRPCMessage);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener('abort', onAbort);
      this.#own.delete(id);
      failure.catch(() => {});
    }
  }

  get capabilities(): ServerCapabilities {
    return this.initResult.capabilities ?? {};
  }

  get alive(): boolean {
    return this.exit === null;
  }

  /** Request ids (and progress tokens) on the backend's side: one counter, never reused while the backend runs. */
  allocId(): number {
    return this.#nextId++;
  }

  /** Hands messages to `handler` from now on, first the ones that arrived before. */
  attach(handler: (message: Parsed) => void): void {
    this.#onMessage = handler;
    for (const message of this.#early.splice(0)) handler(message);
  }

  /** Bytes written to its stdin that the pipe has not taken yet (0 once it exited). */
  get queuedBytes(): number {
    return this.exit ? 0 : (this.child.stdin?.writableLength ?? 0);
  }

  /**
   * Queues one message for its stdin, unless that would put more than `maxQueueBytes` there: a
   * backend that stops reading must not make the host buffer without bound. A refused request is
   * answered (a microtask later, as if by the backend) with a BackendQueueFullError response, so it
   * ends the way any answered request does; other messages are dropped and reported (onRefused).
   */
  write(message: JSONRPCMessage | Record<string, unknown>): boolean {
    const stdin = this.child.stdin;
    if (this.exit || !stdin || !stdin.writable) return false;
    const line = `${JSON.stringify(message)}\n`;
    const queued = stdin.writableLength;
    const bytes = Buffer.byteLength(line);
    if (queued + bytes > this.spec.maxQueueBytes) {
      const error = new BackendQueueFullError(this.spec.server, this.pid, this.spec.maxQueueBytes, queued, bytes);
      const m = message as Parsed;
      if (typeof m.method === 'string' && m.id !== undefined) {
        const answer = { jsonrpc: '2.0', id: m.id, error: toJsonRpcError(error) } as unknown as Parsed;
        queueMicrotask(() => {
          if (!this.exit) this.#deliver(answer);
        });
      }
      this.spec.onRefused(message as Record<string, unknown>, error);
      return false;
    }
    stdin.write(line);
    return true;
  }

  /** A request the host itself makes (subscribe replay, aggregated log level): resolves with the response message. */
  request(method: string, params: Record<string, unknown>): Promise<Parsed> {
    const id = this.allocId();
    return new Promise((resolve) => {
      this.#own.set(id, { resolve });
      this.write({ jsonrpc: '2.0', id, method, params });
    });
  }

  onExit(fn: (info: ExitInfo) => void): void {
    if (this.exit) fn(this.exit);
    else this.#exitWaiters.push(fn);
  }

  stderrTail(): string[] {
    return this.#stderr.tail();
  }

  /**
   * Stops the whole tree (SIGTERM, `graceMs`, SIGKILL) and resolves once the child has exited and,
   * if it had exited by itself, what it left in its process group is stopped too (killGroup: each
   * member proven by pid + start token). Then the registry may forget what is gone.
   */
  stop(graceMs: number): Promise<void> {
    this.#stopping ??= (async () => {
      let exitedByItself = this.exit !== null;
      if (!this.exit) {
        try {
          const result = await killTree(this.pid, {
            graceMs,
            ...(this.startToken ? { startToken: this.startToken } : {}),
          });
          exitedByItself = result.gone.includes(this.pid); // it died on its own before we signalled it
        } catch {
          this.child.kill('SIGKILL');
        }
        if (!this.exit) {
          // killTree only signals what it could prove is ours; make sure the child itself goes.
          const exited = new Promise<void>((resolve) => this.onExit(() => resolve()));
          const timer = setTimeout(() => this.child.kill('SIGKILL'), Math.max(graceMs, 100));
          timer.unref();
          await exited;
          clearTimeout(timer);
        }
      }
      this.child.stdin?.destroy();
      if (exitedByItself) await this.#stopGroup(graceMs);
      await this.#registry.pruneDead?.().catch(() => {});
    })();
    return this.#stopping;
  }

  /** Its exit left members in its process group (a crashed server's helpers): stop them. Linux and macOS only. */
  async #stopGroup(graceMs: number): Promise<void> {
    const members = await this.#group;
    if (members.length === 0) return;
    try {
      await killGroup({ pgid: this.pid, leaderStartToken: this.startToken, members }, { graceMs });
    } catch {
      // A listing that failed: nothing was proven, nothing is signalled; the registry keeps its record.
    }
  }

  #line(line: string): void {
    let message: Parsed;
    try {
      message = JSON.parse(line);
    } catch {
      this.spec.onOutput('stdout', line, this.pid);
      return;
    }
    if (message === null || typeof message !== 'object' || (message as { jsonrpc?: unknown }).jsonrpc !== '2.0') {
      this.spec.onOutput('stdout', line, this.pid);
      return;
    }
    this.#deliver(message);
  }

  /** A message from the backend (or an answer the host gives in its name): the host's own requests first. */
  #deliver(message: Parsed): void {
    if (typeof message.id === 'number' && !('method' in message)) {
      const own = this.#own.get(message.id);
      if (own) {
        this.#own.delete(message.id);
        own.resolve(message);
        return;
      }
    }
    if (this.#onMessage) this.#onMessage(message);
    else this.#early.push(message);
  }
}

export type BackendMessage = Parsed;
