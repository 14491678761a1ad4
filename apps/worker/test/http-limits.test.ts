import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, freePort, http, killStarted, makeHome, runCli, tokenOf, waitFor, workerArgs } from './helpers.js';

/**
 * What a local process without the token can do to the worker's HTTP server: connection slots
 * (maxConnections: 1024) must come back within the header timeout, whatever peers send or do not
 * send, and an oversized body must end in a 413 the client can read, not in a reset.
 */

const HEADERS_TIMEOUT_MS = 1000;
/** The server checks for expired headers every second (connectionsCheckingInterval). */
const CHECK_INTERVAL_MS = 1000;

async function startWorker(home: string, port: number, env: Record<string, string>) {
  const start = await runCli(['start', ...workerArgs(home, port)], { env });
  expect(start.stderr).toBe('');
  expect(start.code, start.stderr).toBe(0);
}

/** Opens `count` sockets that never read; resolves once each is connected or refused. */
async function attackers(port: number, count: number, kinds: Array<(s: Socket) => void>): Promise<Socket[]> {
  const sockets: Socket[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      (_, i) =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          sockets.push(socket);
          socket.pause(); // never read: the server's answers pile up in our receive buffer
          socket.on('error', () => resolve());
          socket.once('connect', () => {
            kinds[i % kinds.length]!(socket);
            resolve();
          });
        }),
    ),
  );
  return sockets;
}

describe('connection slots', () => {
  let home = '';
  let port = 0;
  const sockets: Socket[] = [];
  const timers: NodeJS.Timeout[] = [];

  beforeAll(async () => {
    home = makeHome();
    port = await freePort();
    await startWorker(home, port, { SPAWNGUARD_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) });
  });

  afterEach(() => {
    for (const timer of timers.splice(0)) clearInterval(timer);
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  afterAll(async () => {
    killStarted();
    await runCli(['stop', ...workerArgs(home, port)]);
    await cleanup(home);
  });

  it('1,100 peers that send garbage, nothing, or headers a byte at a time and never read do not lock /health out', async () => {
    const h = `Host: 127.0.0.1:${port}\r\n`;
    const trickling: Socket[] = [];
    const garbage = (s: Socket) => s.write('NOT-HTTP\r\n\r\n');
    const silent = () => {};
    const slow = (s: Socket) => {
      s.write('GET /health HTTP/1.1\r\n');
      trickling.push(s);
    };
    const badHeader = (s: Socket) => s.write(`GET /health HTTP/1.1\r\n${h}Bad Header\r\n\r\n`);
    sockets.push(...(await attackers(port, 1100, [garbage, silent, slow, badHeader])));
    // The slow ones go on sending a header byte every 100 ms, forever (until the server drops them).
    timers.push(
      setInterval(() => {
        for (const s of trickling) if (!s.destroyed && s.writable) s.write('X');
      }, 100),
    );

    // Bounded poll: the slots of the silent and slow peers come back at the header timeout (checked
    // every second); those of garbage senders at once. 10 s of margin for a loaded machine.
    const health = await waitFor(
      '/health while 1,100 peers hold connections',
      async () => {
        const res = await http(port, '/health', { timeoutMs: 1000 });
        return res.status === 200 ? res : null;
      },
      HEADERS_TIMEOUT_MS + CHECK_INTERVAL_MS + 10_000,
      100,
    );
    expect(health!.json.name).toBe('spawnguard-worker');
    // The attackers are still there (nothing of ours closed them): the server let them go.
    expect(sockets.filter((s) => !s.destroyed).length).toBe(1100);
    // And the token holders get through too: status, and (in afterAll) stop.
    expect((await http(port, '/status', { home })).status).toBe(200);
  }, 40_000);
});

/** A node:http POST that writes the whole body first, then reads the answer (as the bridge does). */
function postThenRead(
  port: number,
  token: string,
  body: Buffer,
  chunked: boolean,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/events',
        method: 'POST',
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          ...(chunked ? {} : { 'content-length': String(body.length) }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out')));
    if (chunked) {
      // Written in 64 KiB pieces, without Content-Length: the server learns the size as it reads.
      for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
      req.end();
    } else req.end(body);
  });
}

describe('oversized bodies', () => {
  let home = '';
  let port = 0;

  beforeAll(async () => {
    home = makeHome();
    port = await freePort();
    // A generous linger time: the 10 MB must be drained on a loaded machine too.
    await startWorker(home, port, { SPAWNGUARD_LINGER_MS: '30000' });
  });

  afterAll(async () => {
    killStarted();
    await runCli(['stop', ...workerArgs(home, port)]);
    await cleanup(home);
  });

  it('a node:http client that writes 10 MB and then reads gets the 413, with Content-Length or chunked', async () => {
    const body = Buffer.alloc(10 * 1024 * 1024, 'a');
    for (const chunked of [false, true]) {
      for (let attempt = 0; attempt < 3; attempt++) {
        const res = await postThenRead(port, tokenOf(home), body, chunked);
        expect(res.status, `chunked: ${chunked}`).toBe(413);
        expect(res.headers.connection).toBe('close');
        expect(JSON.parse(res.text).error).toMatch(/limit is 65536|over the 65536-byte limit/);
      }
    }
    // Without the token too: the 401 reaches the client, not a reset.
    const res = await postThenRead(port, 'f'.repeat(64), body, false);
    expect(res.status).toBe(401);
    expect((await http(port, '/health')).status).toBe(200);
  }, 60_000);
});

describe('lingering is bounded', () => {
  let home = '';
  let port = 0;

  beforeAll(async () => {
    home = makeHome();
    port = await freePort();
    await startWorker(home, port, { SPAWNGUARD_LINGER_MS: '1000', SPAWNGUARD_LINGER_BYTES: String(1024 * 1024) });
  });

  afterAll(async () => {
    killStarted();
    await runCli(['stop', ...workerArgs(home, port)]);
    await cleanup(home);
  });

  /** A raw POST declaring a huge body; `feed` decides what follows. Resolves with what was read when the server closed. */
  function hugePost(feed: (socket: Socket) => void): Promise<{ answer: string; closedBy: string }> {
    return new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `POST /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${tokenOf(home)}\r\n` +
            `Content-Length: ${1024 ** 3}\r\n\r\n`,
        );
        feed(socket);
      });
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => (answer += d));
      const done = (closedBy: string) => {
        socket.destroy();
        resolve({ answer, closedBy });
      };
      socket.on('end', () => done('end'));
      socket.on('error', (error) => done((error as NodeJS.ErrnoException).code ?? error.message));
      socket.setTimeout(30_000, () => done('our timeout'));
    });
  }

  it('a client that sends forever is cut after the linger bytes; one that stalls, after the linger time', async () => {
    const forever = await hugePost((socket) => {
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = () => {
        while (!socket.destroyed && socket.write(chunk));
      };
      socket.on('drain', pump);
      pump();
    });
    expect(forever.closedBy).not.toBe('our timeout');
    const stalled = await hugePost((socket) => socket.write('{"event":'));
    expect(stalled.closedBy).not.toBe('our timeout');
    expect(stalled.answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(stalled.answer).toMatch(/\r\nconnection: close\r\n/i);
    expect((await http(port, '/health')).status).toBe(200);
  }, 60_000);
});
