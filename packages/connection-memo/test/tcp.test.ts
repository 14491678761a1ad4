import net, { type AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ConnectionMemo, ConnectTimeoutError, memoizeConnection } from '../src/index.js';

/** A real loopback server that records accepts and ends in order. */
interface TestServer {
  readonly port: number;
  readonly log: string[];
  readonly sockets: Map<number, net.Socket>;
  accepted: number;
  close(): Promise<void>;
}

async function startServer(onAccept?: (socket: net.Socket, id: number) => void): Promise<TestServer> {
  const log: string[] = [];
  const sockets = new Map<number, net.Socket>();
  const state = { accepted: 0 };
  const server = net.createServer((socket) => {
    const id = ++state.accepted;
    sockets.set(id, socket);
    log.push(`accept:${id}`);
    socket.on('end', () => log.push(`end:${id}`));
    socket.on('close', () => sockets.delete(id));
    socket.on('error', () => {});
    socket.resume();
    onAccept?.(socket, id);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    log,
    sockets,
    get accepted() {
      return state.accepted;
    },
    set accepted(v) {
      state.accepted = v;
    },
    async close() {
      for (const s of sockets.values()) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** connect(): open a TCP socket; optionally wait for a greeting line; destroy it when the signal aborts. */
function tcpConnect(
  port: number,
  options: { greeting?: boolean; ignoreAbort?: boolean; onOpen?: (s: net.Socket) => void } = {},
) {
  return ({ signal }: { signal: AbortSignal }) =>
    new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      clientSockets.add(socket);
      socket.on('close', () => clientSockets.delete(socket));
      const onAbort = () => {
        if (options.ignoreAbort) return;
        socket.destroy();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const ready = () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('data');
        options.onOpen?.(socket);
        resolve(socket);
      };
      socket.once('error', (error) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      });
      socket.once('connect', () => {
        if (!options.greeting) return ready();
        socket.once('data', ready);
      });
      socket.resume();
    });
}

/** close(): half-close and wait until both sides are done. */
function tcpClose(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve();
    socket.once('close', () => resolve());
    socket.end();
  });
}

const clientSockets = new Set<net.Socket>();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens one more connection and waits until the server has accepted it, then closes it. */
async function connectionAfter(server: TestServer): Promise<void> {
  const probe = net.connect({ host: '127.0.0.1', port: server.port });
  await new Promise<void>((resolve, reject) => probe.once('connect', resolve).once('error', reject));
  const port = probe.localPort;
  try {
    await until(() => [...server.sockets.values()].some((s) => s.remotePort === port), 'the server to accept it');
  } finally {
    probe.destroy();
  }
}

async function until(check: () => boolean, what: string, limitMs = 5000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('real TCP connections', () => {
  let server: TestServer | undefined;
  let memo: ConnectionMemo<net.Socket> | undefined;

  beforeEach(() => {
    server = undefined;
    memo = undefined;
  });

  afterEach(async () => {
    await memo?.close();
    for (const s of clientSockets) s.destroy();
    await server?.close();
  });

  it('200 concurrent get() open exactly one server-side connection', async () => {
    server = await startServer();
    memo = memoizeConnection({ connect: tcpConnect(server.port), close: tcpClose });
    const m = memo;
    const sockets = await Promise.all(Array.from({ length: 200 }, () => m.get()));
    expect(new Set(sockets).size).toBe(1);
    // A stray connection opened before this one reaches the server before it (one accept queue):
    // once the server has this one, it has every connection the get() calls opened.
    await connectionAfter(server);
    expect(server.accepted).toBe(1 + 1);
  });

  it('reset: the server sees the old socket end before the new one arrives', async () => {
    server = await startServer();
    memo = memoizeConnection({ connect: tcpConnect(server.port), close: tcpClose });
    const old = await memo.get();
    const resetting = memo.reset();
    const waiters = Array.from({ length: 20 }, () => memo!.get());
    await resetting;
    const fresh = await Promise.all(waiters);
    expect(new Set(fresh).size).toBe(1);
    expect(fresh[0]).not.toBe(old);
    expect(old.destroyed).toBe(true);
    await until(() => server!.accepted === 2, 'second accept');
    expect(server.log).toEqual(['accept:1', 'end:1', 'accept:2']);
  });

  it("the server drops the socket: its 'close' invalidates it and the next get() reconnects", async () => {
    server = await startServer();
    const ref: { memo?: ConnectionMemo<net.Socket> } = {};
    memo = memoizeConnection({
      connect: tcpConnect(server.port, { onOpen: (s) => s.once('close', () => void ref.memo?.invalidate(s)) }),
      close: tcpClose,
    });
    ref.memo = memo;
    const first = await memo.get();
    server.sockets.get(1)!.destroy();
    await until(() => memo!.state !== 'connected', 'invalidation after server drop');
    const second = await memo.get();
    expect(second).not.toBe(first);
    expect(server.accepted).toBe(2);
  });

  it("a late 'close' of the old socket after a reset does not drop the new one", async () => {
    server = await startServer();
    const ref: { memo?: ConnectionMemo<net.Socket>; late?: Promise<boolean> } = {};
    memo = memoizeConnection({
      // the handler runs late, after the new connection already exists
      connect: tcpConnect(server.port, {
        onOpen: (s) =>
          s.once('close', () =>
            setTimeout(() => {
              ref.late = ref.memo?.invalidate(s);
            }, 30),
          ),
      }),
      close: tcpClose,
    });
    ref.memo = memo;
    const old = await memo.get();
    await memo.reset();
    const fresh = await memo.get();
    await until(() => ref.late !== undefined, "the old socket's late invalidate");
    expect(await ref.late).toBe(false);
    expect(old.destroyed).toBe(true);
    expect(memo.current).toBe(fresh);
    expect(fresh.destroyed).toBe(false);
    expect(server.accepted).toBe(2);
    expect(server.sockets.size).toBe(1);
  });

  it('a refused connect reaches every waiter and the next get() dials again', async () => {
    const probe = await startServer();
    const port = probe.port;
    await probe.close(); // nothing listens on this port now
    let dials = 0;
    const dial = tcpConnect(port);
    memo = memoizeConnection({
      connect: (ctx) => {
        dials++;
        return dial(ctx);
      },
      close: tcpClose,
    });
    const m = memo;
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => m.get()));
    expect(
      results.every((r) => r.status === 'rejected' && (r.reason as NodeJS.ErrnoException).code === 'ECONNREFUSED'),
    ).toBe(true);
    expect(dials).toBe(1);
    await expect(memo.get()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(dials).toBe(2);
  });

  it('connectTimeoutMs: a handshake that never completes is aborted and its socket destroyed', async () => {
    server = await startServer(); // never sends the greeting
    memo = memoizeConnection({
      connect: tcpConnect(server.port, { greeting: true }),
      close: tcpClose,
      connectTimeoutMs: 100,
    });
    await expect(memo.get()).rejects.toBeInstanceOf(ConnectTimeoutError);
    await until(() => server!.sockets.size === 0, 'server to see the half-made socket closed');
    expect(server.accepted).toBe(1);
  });

  it('connectTimeoutMs: a connect that ignores its signal and completes late is closed, not leaked', async () => {
    server = await startServer((socket) => setTimeout(() => socket.write('hello\n'), 150)); // late greeting
    memo = memoizeConnection({
      connect: tcpConnect(server.port, { greeting: true, ignoreAbort: true }),
      close: tcpClose,
      connectTimeoutMs: 50,
    });
    const closed: net.Socket[] = [];
    memo.events.on('closed', (e) => closed.push(e.connection));
    await expect(memo.get()).rejects.toBeInstanceOf(ConnectTimeoutError);
    await until(() => closed.length > 0, 'the memo to close the late socket');
    await until(() => server!.log.includes('end:1'), 'server to see the late socket ended');
    await sleep(20);
    expect(closed).toHaveLength(1);
    expect(closed[0]!.destroyed).toBe(true);
    expect(memo.state).toBe('idle');
  });

  it('close() ends the connection on the server and later get() rejects', async () => {
    server = await startServer();
    memo = memoizeConnection({ connect: tcpConnect(server.port), close: tcpClose });
    await memo.get();
    await memo.close();
    await until(() => server!.log.includes('end:1'), 'server to see the socket end');
    await expect(memo.get()).rejects.toMatchObject({ code: 'EMEMOCLOSED' });
    expect(server.accepted).toBe(1);
  });
});
