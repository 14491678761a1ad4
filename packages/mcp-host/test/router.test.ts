/**
 * The Router against an in-memory backend and link (no process, no socket, no timer of its own):
 * one fast test per routing rule of the README ("Routing rules"). The same rules against real
 * servers stay in the integration tests.
 */
import type { InitializeResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { NameFilter } from '../src/config/name-filter.js';
import type { ServerFilters } from '../src/config/server-filters.js';
import { BackendExitedError, BackendStartError, JSONRPC } from '../src/errors.js';
import type { McpHostEvents } from '../src/events.js';
import type { BackendPort } from '../src/routing/backend-port.js';
import type { RouterLink } from '../src/routing/link.js';
import { Router } from '../src/routing/router.js';
import { Session, type SessionTransport } from '../src/routing/session.js';

// biome-ignore lint/suspicious/noExplicitAny: messages read loosely in assertions
type Any = any;

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value));

class FakeBackend implements BackendPort {
  written: Any[] = [];
  requests: { method: string; params: Record<string, unknown> }[] = [];
  alive = true;
  #next = 1;
  #handler: ((message: unknown) => void) | null = null;
  constructor(readonly initResult: InitializeResult) {}
  get capabilities() {
    return this.initResult.capabilities ?? {};
  }
  allocId(): number {
    return this.#next++;
  }
  attach(handler: (message: unknown) => void): void {
    this.#handler = handler;
  }
  write(message: object): boolean {
    this.written.push(clone(message));
    return true;
  }
  request(method: string, params: Record<string, unknown>): Promise<unknown> {
    this.requests.push({ method, params });
    return Promise.resolve({});
  }
  /** A message from the backend process. */
  emit(message: Any): void {
    this.#handler?.(message);
  }
  take(): Any[] {
    const out = this.written;
    this.written = [];
    return out;
  }
}

class FakeClock implements Clock {
  t = 0;
  timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;
  now = () => this.t;
  setTimeout(fn: () => void, ms: number): unknown {
    this.#id++;
    this.timers.set(this.#id, { at: this.t + ms, fn });
    return this.#id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.t += ms;
    for (const [id, timer] of [...this.timers]) {
      if (timer.at > this.t) continue;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

class FakeLink implements RouterLink {
  server = 'fake';
  perSession = false;
  serialize = false;
  filters: ServerFilters = {};
  requestTimeoutMs = 0;
  clock = new FakeClock();
  ensures = 0;
  routingErrors: Omit<McpHostEvents['routingError'], 'server'>[] = [];
  readySessions: string[] = [];
  initFailures: string[] = [];
  timeouts: { sessionId: string; method: string; timeoutMs: number; inARow: number }[] = [];
  ensureBackend(): void {
    this.ensures++;
  }
  routingError(event: Omit<McpHostEvents['routingError'], 'server'>): void {
    this.routingErrors.push(event);
  }
  sessionReady(session: Session): void {
    this.readySessions.push(session.id);
  }
  initFailed(session: Session): void {
    this.initFailures.push(session.id);
  }
  sessionsChanged(): void {}
  requestTimedOut(report: { sessionId: string; method: string; timeoutMs: number; inARow: number }): void {
    this.timeouts.push(report);
  }
}

class FakeTransport implements SessionTransport {
  sent: { message: Any; related: string | number | undefined }[] = [];
  closedStreams: unknown[] = [];
  start = () => Promise.resolve();
  close = () => Promise.resolve();
  send(message: object, options?: { relatedRequestId?: string | number }): Promise<void> {
    this.sent.push({ message: clone(message), related: options?.relatedRequestId });
    return Promise.resolve();
  }
  closeSSEStream(id: unknown): void {
    this.closedStreams.push(id);
  }
}

const INIT: InitializeResult = {
  protocolVersion: '2025-06-18',
  capabilities: { logging: {}, tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } },
  serverInfo: { name: 'fake', version: '1' },
};

const ALL_CAPS = { sampling: {}, elicitation: { form: {}, url: {} }, roots: {} };

interface Client {
  session: Session;
  transport: FakeTransport;
  /** What the session received since the last take. */
  take(): Any[];
  send(message: Any): void;
}

function setup(link = new FakeLink(), init = INIT) {
  const router = new Router(link);
  const backend = new FakeBackend(init);
  let n = 0;
  const client = (capabilities: object = ALL_CAPS, protocolVersion = '2025-06-18'): Client => {
    const transport = new FakeTransport();
    const session = new Session(`s${++n}`, link.server, transport, () => {});
    session.initializing({ protocolVersion, capabilities, clientInfo: { name: `c${n}`, version: '1' } });
    const c: Client = {
      session,
      transport,
      take: () => {
        const out = transport.sent.map((s) => s.message);
        transport.sent = [];
        return out;
      },
      send: (message) => router.fromSession(session, clone(message)),
    };
    return c;
  };
  /** A ready session (the backend attached). */
  const open = (capabilities: object = ALL_CAPS): Client => {
    const c = client(capabilities);
    c.send({ jsonrpc: '2.0', id: 0, method: 'initialize', params: {} });
    c.take();
    return c;
  };
  return { router, link, backend, client, open, start: () => router.attach(backend, false) };
}

const req = (id: Any, method: string, params?: Any) => ({ jsonrpc: '2.0', id, method, params });

describe('Router: initialize and ping', () => {
  it('a session gets the backend initialize result with its own negotiated protocol version', () => {
    const { client, start, link } = setup();
    start();
    const old = client(ALL_CAPS, '2025-03-26');
    old.send(req(1, 'initialize', {}));
    const [answer] = old.take();
    expect(answer).toMatchObject({ id: 1, result: { protocolVersion: '2025-03-26', serverInfo: { name: 'fake' } } });
    const unknown = client(ALL_CAPS, '1999-01-01');
    unknown.send(req(1, 'initialize', {}));
    expect(unknown.take()[0].result.protocolVersion).toBe('2025-06-18');
    expect(link.readySessions).toEqual(['s1', 's2']);
  });

  it('requests before initialize get -32002; a second initialize gets -32600', () => {
    const { client, start, backend } = setup();
    start();
    const a = client();
    a.send(req(1, 'tools/list'));
    expect(a.take()[0].error.code).toBe(JSONRPC.notInitialized);
    a.send(req(2, 'initialize', {}));
    a.take();
    a.send(req(3, 'initialize', {}));
    expect(a.take()[0].error.code).toBe(JSONRPC.invalidRequest);
    expect(backend.take()).toEqual([]);
  });

  it('ping from either side is answered by the host', () => {
    const { open, start, backend } = setup();
    start();
    const a = open();
    a.send(req(7, 'ping'));
    expect(a.take()).toEqual([{ jsonrpc: '2.0', id: 7, result: {} }]);
    backend.emit(req(99, 'ping'));
    expect(backend.take()).toEqual([{ jsonrpc: '2.0', id: 99, result: {} }]);
  });
});

describe('Router: requests from sessions', () => {
  it("two sessions' id 1 get distinct backend ids; each response goes back to its own session and id", () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    a.send(req(1, 'tools/list'));
    b.send(req(1, 'tools/list'));
    const [wa, wb] = backend.take();
    expect(wa.id).not.toBe(wb.id);
    backend.emit({ jsonrpc: '2.0', id: wb.id, result: { tools: ['b'] } });
    backend.emit({ jsonrpc: '2.0', id: wa.id, result: { tools: ['a'] } });
    expect(a.take()).toEqual([{ jsonrpc: '2.0', id: 1, result: { tools: ['a'] } }]);
    expect(b.take()).toEqual([{ jsonrpc: '2.0', id: 1, result: { tools: ['b'] } }]);
  });

  it('string ids are mapped like numbers', () => {
    const { open, start, backend } = setup();
    start();
    const a = open();
    a.send(req('x', 'tools/list'));
    const [w] = backend.take();
    expect(typeof w.id).toBe('number');
    backend.emit({ jsonrpc: '2.0', id: w.id, result: {} });
    expect(a.take()[0].id).toBe('x');
  });

  it('an id already in flight, or already queued for a backend, is refused with -32600', () => {
    const { client, start, backend } = setup();
    const a = client();
    a.send(req(0, 'initialize', {}));
    a.send(req(0, 'initialize', {}));
    expect(a.take()[0].error.code).toBe(JSONRPC.invalidRequest); // queued, the backend not started yet
    start();
    a.take();
    a.send(req(5, 'tools/call', { name: 't' }));
    a.send(req(5, 'tools/call', { name: 't' }));
    expect(a.take()).toMatchObject([{ id: 5, error: { code: JSONRPC.invalidRequest } }]);
    expect(backend.take()).toHaveLength(1);
  });

  it('requests wait for the backend to start, and are sent when it is attached', () => {
    const { client, router, backend, link } = setup();
    const a = client();
    a.send(req(0, 'initialize', {}));
    expect(link.ensures).toBe(1);
    expect(router.waiting).toBe(1);
    router.attach(backend, false);
    expect(a.take()[0].result.serverInfo.name).toBe('fake');
    expect(router.waiting).toBe(0);
  });

  it('a failed start fails what waited for it, and reports a failed initialize to the link', () => {
    const { client, router, link } = setup();
    const a = client();
    a.send(req(0, 'initialize', {}));
    router.startFailed(new BackendStartError('fake', 'no such command', ['boom'], null, null, null));
    const [answer] = a.take();
    expect(answer).toMatchObject({
      id: 0,
      error: { code: JSONRPC.backendUnavailable, data: { code: 'EBACKENDSTART' } },
    });
    expect(link.initFailures).toEqual(['s1']);
  });
});

describe('Router: progress', () => {
  it('the token is replaced by the backend id; progress reaches only that session with its own token; after the response it is dropped', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    a.send(req(1, 'tools/call', { name: 't', _meta: { progressToken: 'mine' } }));
    const [w] = backend.take();
    expect(w.params._meta.progressToken).toBe(w.id);
    backend.emit({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: w.id, progress: 1 } });
    expect(a.transport.sent).toMatchObject([
      { message: { params: { progressToken: 'mine', progress: 1 } }, related: 1 },
    ]);
    expect(b.take()).toEqual([]);
    a.take();
    backend.emit({ jsonrpc: '2.0', id: w.id, result: {} });
    backend.emit({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: w.id, progress: 2 } });
    expect(a.take()).toHaveLength(1); // the response only
  });
});

describe('Router: cancellation', () => {
  it("a session's cancel is translated to the backend id, its stream closed, and a late answer dropped", () => {
    const { open, start, backend } = setup();
    start();
    const a = open();
    a.send(req(4, 'tools/call', { name: 't' }));
    const [w] = backend.take();
    a.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4, reason: 'bored' } });
    expect(backend.take()).toEqual([
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: w.id, reason: 'bored' } },
    ]);
    expect(a.transport.closedStreams).toEqual([4]);
    backend.emit({ jsonrpc: '2.0', id: w.id, result: {} });
    expect(a.take()).toEqual([]);
  });

  it('a queued request that is cancelled never reaches the backend', () => {
    const { client, router, backend } = setup();
    const a = client();
    a.send(req(0, 'initialize', {}));
    router.attach(backend, false);
    a.take();
    router.detach(backend, new BackendExitedError('fake', 1, 1, null, []));
    a.send(req(3, 'tools/list'));
    a.send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3 } });
    expect(router.waiting).toBe(0);
  });

  it("the backend's cancel of a server-to-client request is translated to the id the session saw", () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend } = setup(link);
    start();
    const a = open();
    backend.emit(req(50, 'roots/list'));
    const [asked] = a.take();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 50 } });
    expect(a.take()).toEqual([{ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: asked.id } }]);
  });

  it('a leaving session has its requests cancelled at the backend, answered with ESESSIONCLOSED, and its server-to-client requests answered with an error', () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend, router } = setup(link);
    start();
    const a = open();
    a.send(req(1, 'tools/call', { name: 't' }));
    const [w] = backend.take();
    backend.emit(req(60, 'sampling/createMessage', { messages: [], maxTokens: 1 }));
    a.take();
    router.leave(a.session, 'closed');
    expect(a.take()).toMatchObject([
      { id: 1, error: { code: JSONRPC.backendUnavailable, data: { code: 'ESESSIONCLOSED', reason: 'closed' } } },
    ]);
    expect(backend.take()).toMatchObject([
      { method: 'notifications/cancelled', params: { requestId: w.id } },
      { id: 60, error: { code: JSONRPC.internal } },
    ]);
    expect(router.serverRequestsOpen(a.session)).toBe(0);
  });
});

describe('Router: server-to-client requests', () => {
  it('a shared backend without serialize: refused with -32603 and an ambiguous routingError, even with one session busy', () => {
    const { open, start, backend, link } = setup();
    start();
    const a = open();
    a.send(req(1, 'tools/call', { name: 't' }));
    backend.take();
    backend.emit(req(70, 'sampling/createMessage', { messages: [], maxTokens: 1 }));
    expect(backend.take()).toMatchObject([{ id: 70, error: { code: JSONRPC.internal } }]);
    expect(a.take()).toEqual([]);
    expect(link.routingErrors).toMatchObject([{ reason: 'ambiguous', method: 'sampling/createMessage' }]);
  });

  it('per-session: to its session, on the stream of a request in flight; the answer goes back under the backend id', () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend } = setup(link);
    start();
    const a = open();
    a.send(req('call', 'tools/call', { name: 't' }));
    backend.take();
    backend.emit(req('srv-1', 'elicitation/create', { mode: 'form', message: 'q', requestedSchema: {} }));
    const { message, related } = a.transport.sent[0]!;
    a.transport.sent = [];
    expect(related).toBe('call');
    expect(message.method).toBe('elicitation/create');
    a.send({ jsonrpc: '2.0', id: message.id, result: { action: 'accept' } });
    expect(backend.take()).toEqual([{ jsonrpc: '2.0', id: 'srv-1', result: { action: 'accept' } }]);
  });

  it('a session that lacks the capability makes the host answer -32601 at once', () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend } = setup(link);
    start();
    const a = open({});
    backend.emit(req(80, 'sampling/createMessage', { messages: [], maxTokens: 1 }));
    expect(backend.take()).toMatchObject([{ id: 80, error: { code: JSONRPC.methodNotFound } }]);
    expect(a.take()).toEqual([]);
    expect(link.routingErrors).toMatchObject([{ reason: 'capability-missing' }]);
  });

  it('a request tagged with a task goes to the session that created the task', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    b.send(req(1, 'tools/call', { name: 't', task: {} }));
    const [w] = backend.take();
    backend.emit({ jsonrpc: '2.0', id: w.id, result: { task: { taskId: 'T1', status: 'working' } } });
    b.take();
    backend.emit(req(90, 'roots/list', { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 'T1' } } }));
    expect(a.take()).toEqual([]);
    expect(b.take()).toMatchObject([{ method: 'roots/list' }]);
    backend.emit(req(91, 'roots/list', { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 'T9' } } }));
    expect(backend.take()).toMatchObject([{ id: 91, error: { code: JSONRPC.internal } }]);
  });

  it('serialize: to the session holding the gate; refused when nobody holds it', () => {
    const link = new FakeLink();
    link.serialize = true;
    const { open, start, backend } = setup(link);
    start();
    const [a, b] = [open(), open()];
    backend.emit(req(100, 'roots/list'));
    expect(backend.take()).toMatchObject([{ id: 100, error: { code: JSONRPC.internal } }]);
    b.send(req(1, 'tools/call', { name: 't' }));
    backend.take();
    backend.emit(req(101, 'roots/list'));
    expect(a.take()).toEqual([]);
    expect(b.take()).toMatchObject([{ method: 'roots/list' }]);
  });

  it('a response to something the session was never asked is reported (unknown-id) and dropped', () => {
    const { open, start, backend, link } = setup();
    start();
    const a = open();
    a.send({ jsonrpc: '2.0', id: 12, result: {} });
    expect(backend.take()).toEqual([]);
    expect(link.routingErrors).toMatchObject([{ reason: 'unknown-id', sessionId: 's1' }]);
  });

  it('an exiting backend: requests in flight fail, server-to-client requests are cancelled at their session', () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend, router } = setup(link);
    start();
    const a = open();
    a.send(req(1, 'tools/call', { name: 't' }));
    backend.emit(req(110, 'roots/list'));
    const [asked] = a.take();
    backend.alive = false;
    router.detach(backend, new BackendExitedError('fake', 1, 1, null, []));
    expect(a.take()).toMatchObject([
      { id: 1, error: { code: JSONRPC.backendUnavailable, data: { code: 'EBACKENDEXITED' } } },
      { method: 'notifications/cancelled', params: { requestId: asked.id } },
    ]);
    expect(router.serverRequestsOpen(a.session)).toBe(0);
  });
});

describe('Router: serialize', () => {
  it("one session's requests at a time; the gate is held until each of them is answered, then the next session's go", () => {
    const link = new FakeLink();
    link.serialize = true;
    const { open, start, backend } = setup(link);
    start();
    const [a, b] = [open(), open()];
    a.send(req(1, 'tools/call', { name: 'x' }));
    a.send(req(2, 'tools/call', { name: 'y' }));
    b.send(req(1, 'tools/call', { name: 'z' }));
    const sent = backend.take();
    expect(sent.map((m) => m.params.name)).toEqual(['x', 'y']);
    backend.emit({ jsonrpc: '2.0', id: sent[0].id, result: {} });
    expect(backend.take()).toEqual([]);
    backend.emit({ jsonrpc: '2.0', id: sent[1].id, result: {} });
    expect(backend.take().map((m) => m.params.name)).toEqual(['z']);
  });
});

describe('Router: notifications from the backend', () => {
  it('list_changed goes to every session', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    backend.emit({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    expect(a.take()).toHaveLength(1);
    expect(b.take()).toHaveLength(1);
  });

  it('resources/updated only to subscribers; only the first subscribe and the last unsubscribe reach the backend', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b, c] = [open(), open(), open()];
    a.send(req(1, 'resources/subscribe', { uri: 'u' }));
    const [first] = backend.take();
    backend.emit({ jsonrpc: '2.0', id: first.id, result: {} });
    b.send(req(1, 'resources/subscribe', { uri: 'u' }));
    expect(backend.take()).toEqual([]);
    expect(b.take()).toEqual([{ jsonrpc: '2.0', id: 1, result: {} }]);
    a.take();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'u' } });
    expect(a.take()).toHaveLength(1);
    expect(b.take()).toHaveLength(1);
    expect(c.take()).toEqual([]);
    a.send(req(2, 'resources/unsubscribe', { uri: 'u' }));
    expect(backend.take()).toEqual([]);
    b.send(req(2, 'resources/unsubscribe', { uri: 'u' }));
    expect(backend.take()).toMatchObject([{ method: 'resources/unsubscribe' }]);
    a.send(req(3, 'resources/subscribe', {}));
    expect(a.take()).toMatchObject([{ id: 2 }, { id: 3, error: { code: JSONRPC.invalidParams } }]);
  });

  it('notifications/message to each session whose level admits it; the backend is told the most verbose level', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    a.send(req(1, 'logging/setLevel', { level: 'error' }));
    const [set] = backend.take();
    expect(set.params.level).toBe('debug'); // b never set one: it gets everything
    backend.emit({ jsonrpc: '2.0', id: set.id, result: {} });
    a.take();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'x' } });
    expect(a.take()).toEqual([]);
    expect(b.take()).toHaveLength(1);
    b.send(req(1, 'logging/setLevel', { level: 'warning' }));
    expect(backend.take()).toMatchObject([{ method: 'logging/setLevel', params: { level: 'warning' } }]);
    a.send(req(2, 'logging/setLevel', { level: 'nope' }));
    expect(a.take()).toMatchObject([{ id: 2, error: { code: JSONRPC.invalidParams } }]);
  });

  it('tasks/status to the creator; another session cannot see or use the task', () => {
    const { open, start, backend } = setup();
    start();
    const [a, b] = [open(), open()];
    a.send(req(1, 'tools/call', { name: 't', task: {} }));
    const [w] = backend.take();
    backend.emit({ jsonrpc: '2.0', id: w.id, result: { task: { taskId: 'T', status: 'working' } } });
    a.take();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/tasks/status', params: { taskId: 'T', status: 'done' } });
    expect(a.take()).toHaveLength(1);
    expect(b.take()).toEqual([]);
    b.send(req(1, 'tasks/get', { taskId: 'T' }));
    expect(b.take()).toMatchObject([{ id: 1, error: { code: JSONRPC.invalidParams } }]);
    b.send(req(2, 'tasks/list'));
    const [list] = backend.take();
    backend.emit({ jsonrpc: '2.0', id: list.id, result: { tasks: [{ taskId: 'T' }, { taskId: 'other' }] } });
    expect(b.take()).toEqual([{ jsonrpc: '2.0', id: 2, result: { tasks: [] } }]);
  });

  it('elicitation/complete to the session that got that URL elicitation', () => {
    const link = new FakeLink();
    link.perSession = true;
    const { open, start, backend } = setup(link);
    start();
    const a = open();
    backend.emit(req(1, 'elicitation/create', { mode: 'url', elicitationId: 'E', url: 'https://x', message: 'm' }));
    a.take();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: 'E' } });
    expect(a.take()).toMatchObject([{ method: 'notifications/elicitation/complete' }]);
    backend.emit({ jsonrpc: '2.0', method: 'notifications/elicitation/complete', params: { elicitationId: 'E' } });
    expect(a.take()).toEqual([]);
  });

  it('any other notification: to the one session, or dropped with an unroutable routingError', () => {
    const { open, start, backend, link } = setup();
    start();
    const a = open();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/custom' });
    expect(a.take()).toHaveLength(1);
    const b = open();
    backend.emit({ jsonrpc: '2.0', method: 'notifications/custom' });
    expect(a.take()).toEqual([]);
    expect(b.take()).toEqual([]);
    expect(link.routingErrors).toMatchObject([{ reason: 'unroutable', method: 'notifications/custom' }]);
  });
});

describe('Router: filters', () => {
  it('a filtered tool is refused before the backend sees it; lists lose filtered items', () => {
    const link = new FakeLink();
    link.filters = { tools: NameFilter.parse('servers.fake.tools', { deny: ['secret*'] }) };
    const { open, start, backend } = setup(link);
    start();
    const a = open();
    a.send(req(1, 'tools/call', { name: 'secret-x' }));
    expect(a.take()).toMatchObject([{ id: 1, error: { code: JSONRPC.invalidParams, data: { code: 'EFILTERED' } } }]);
    expect(backend.take()).toEqual([]);
    a.send(req(2, 'tools/list'));
    const [w] = backend.take();
    backend.emit({ jsonrpc: '2.0', id: w.id, result: { tools: [{ name: 'secret-y' }, { name: 'open' }] } });
    expect(a.take()[0].result.tools).toEqual([{ name: 'open' }]);
  });
});

describe('Router: restart and deadlines', () => {
  it('a restarted backend gets the subscriptions and level back, and sessions hear list_changed', () => {
    const { open, start, backend, router } = setup();
    start();
    const a = open();
    a.send(req(1, 'resources/subscribe', { uri: 'u' }));
    a.send(req(2, 'logging/setLevel', { level: 'warning' }));
    for (const w of backend.take()) backend.emit({ jsonrpc: '2.0', id: w.id, result: {} });
    a.take();
    backend.alive = false;
    router.detach(backend, new BackendExitedError('fake', 1, 1, null, []));
    const next = new FakeBackend(INIT);
    router.attach(next, true);
    expect(next.requests).toEqual([
      { method: 'resources/subscribe', params: { uri: 'u' } },
      { method: 'logging/setLevel', params: { level: 'warning' } },
    ]);
    expect(a.take().map((m) => m.method)).toEqual([
      'notifications/tools/list_changed',
      'notifications/resources/list_changed',
    ]);
  });

  it('requestTimeoutMs: the session gets -32001, the backend a cancel, the link a report; a late answer is dropped', () => {
    const link = new FakeLink();
    link.requestTimeoutMs = 1000;
    const { open, start, backend } = setup(link);
    start();
    const a = open();
    a.send(req(1, 'tools/call', { name: 't' }));
    const [w] = backend.take();
    link.clock.advance(999);
    expect(a.take()).toEqual([]);
    link.clock.advance(1);
    expect(a.take()).toMatchObject([
      { id: 1, error: { code: JSONRPC.requestTimeout, data: { code: 'EREQUESTTIMEOUT' } } },
    ]);
    expect(backend.take()).toMatchObject([{ method: 'notifications/cancelled', params: { requestId: w.id } }]);
    expect(link.timeouts).toEqual([{ sessionId: 's1', method: 'tools/call', timeoutMs: 1000, inARow: 1 }]);
    backend.emit({ jsonrpc: '2.0', id: w.id, result: {} });
    expect(a.take()).toEqual([]);
  });
});
