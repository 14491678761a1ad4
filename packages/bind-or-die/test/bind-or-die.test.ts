import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { captureWarnings, listenerWarning } from '@spawnguard/internal/testing';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { bindOrDie, createBindOrDieEvents, LostBindError, type LostInfo } from '../src/index.js';
import { freePort } from './helpers.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(null)))),
  );
});

function track<T extends Server>(s: T): T {
  servers.push(s);
  return s;
}

async function holdPort(): Promise<number> {
  const port = await freePort();
  const holder = track(createServer());
  await new Promise<void>((resolve) => holder.listen({ port, host: '127.0.0.1' }, resolve));
  return port;
}

describe('bindOrDie over TCP', () => {
  it('binds the literal 127.0.0.1 by default and resolves with the address', async () => {
    const port = await freePort();
    const address = await bindOrDie(track(createHttpServer()), { port });
    expect(address).toEqual({ address: '127.0.0.1', family: 'IPv4', port });
  });

  it('works with a plain net.Server and port 0', async () => {
    const address = await bindOrDie(track(createServer()), { port: 0, host: '127.0.0.1' });
    expect(typeof address === 'object' && address.port).toBeGreaterThan(0);
  });

  it('a loser calls onLost once and never resolves; LostBindError if onLost returns', async () => {
    const port = await holdPort();
    const events = createBindOrDieEvents();
    const order: string[] = [];
    events.on('lost', () => order.push('event'));
    const onLost = vi.fn(async (_info: LostInfo) => {
      order.push('onLost');
    });
    const loser = track(createHttpServer());
    const error = await bindOrDie(loser, { port }, { onLost, events }).catch((e) => e);
    expect(error).toBeInstanceOf(LostBindError);
    expect(error.message).toContain(`127.0.0.1:${port} is already bound`);
    expect(order).toEqual(['event', 'onLost']);
    expect(onLost.mock.calls[0]![0]).toMatchObject({ address: `127.0.0.1:${port}`, winnerVerified: undefined });
    expect(loser.listening).toBe(false);
  });

  it('an error thrown by onLost is what the promise rejects with', async () => {
    const port = await holdPort();
    const boom = new Error('shutting down');
    await expect(
      bindOrDie(
        track(createServer()),
        { port },
        {
          onLost: () => {
            throw boom;
          },
        },
      ),
    ).rejects.toBe(boom);
  });

  it('a throwing listener neither breaks the bind nor the other listeners; it is a coded process warning', async () => {
    const port = await holdPort();
    const events = createBindOrDieEvents();
    const second = vi.fn();
    const bug = new Error('listener bug');
    events.on('lost', () => {
      throw bug;
    });
    events.on('lost', second);
    const warnings = await captureWarnings();
    try {
      await expect(bindOrDie(track(createServer()), { port }, { onLost: () => {}, events })).rejects.toBeInstanceOf(
        LostBindError,
      );
      expect(second).toHaveBeenCalledTimes(1);
      await warnings.settled();
      expect(warnings.entries()).toEqual([listenerWarning('@spawnguard/bind-or-die', 'lost', bug)]);
    } finally {
      warnings.stop();
    }
  });

  it('waits (bounded) for verifyWinner to confirm the holder before calling onLost', async () => {
    const port = await holdPort();
    let calls = 0;
    const verifyWinner = vi.fn(async () => ++calls >= 3);
    const onLost = vi.fn();
    await expect(
      bindOrDie(track(createServer()), { port }, { onLost, verifyWinner, verifyTimeoutMs: 10_000 }),
    ).rejects.toMatchObject({ winnerVerified: true });
    expect(verifyWinner).toHaveBeenCalledTimes(3);
    expect(onLost.mock.calls[0]![0]).toMatchObject({ winnerVerified: true });
  });

  it('gives up on verifyWinner after verifyTimeoutMs, even if it hangs or throws', async () => {
    const port = await holdPort();
    for (const verifyWinner of [() => new Promise<boolean>(() => {}), () => Promise.reject(new Error('nope'))]) {
      const onLost = vi.fn();
      const started = Date.now();
      await expect(
        bindOrDie(track(createServer()), { port }, { onLost, verifyWinner, verifyTimeoutMs: 200 }),
      ).rejects.toMatchObject({ winnerVerified: false });
      expect(Date.now() - started).toBeLessThan(5000); // sanity bound, not a benchmark
      expect(onLost.mock.calls[0]![0]).toMatchObject({ winnerVerified: false });
    }
  });

  it('other listen errors reject with the original error and never call onLost', async () => {
    const onLost = vi.fn();
    const s = track(createServer());
    let emitted: unknown;
    const spy = s.emit.bind(s);
    s.emit = ((name: string, ...args: unknown[]) => {
      if (name === 'error') emitted = args[0];
      return spy(name, ...args);
    }) as typeof s.emit;
    // 192.0.2.1 (TEST-NET-1) is never a local address.
    const error = await bindOrDie(s, { port: 0, host: '192.0.2.1' }, { onLost }).catch((e) => e);
    expect(error).toMatchObject({ code: 'EADDRNOTAVAIL' });
    expect(error).toBe(emitted);
    expect(onLost).not.toHaveBeenCalled();
  });

  it('an aborted signal rejects with its reason; abort during verifyWinner too', async () => {
    const reason = new Error('stop');
    await expect(bindOrDie(track(createServer()), { port: 0 }, { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    );

    const port = await holdPort();
    const controller = new AbortController();
    const onLost = vi.fn();
    const pending = bindOrDie(
      track(createServer()),
      { port },
      {
        onLost,
        signal: controller.signal,
        verifyWinner: () => false,
        verifyTimeoutMs: 30_000,
      },
    );
    setTimeout(() => controller.abort(reason), 100);
    await expect(pending).rejects.toBe(reason);
    expect(onLost).not.toHaveBeenCalled();
  });

  it('refuses a server that is already listening', async () => {
    const s = track(createServer());
    await bindOrDie(s, { port: 0 });
    await expect(bindOrDie(s, { port: 0 })).rejects.toThrow(/already listening/);
  });
});

describe('bad input', () => {
  const s = () => createServer();
  it.each([
    ['no server', () => bindOrDie(undefined as never, { port: 0 }), TypeError, /server must be a net.Server/],
    ['a plain object', () => bindOrDie({} as never, { port: 0 }), TypeError, /server must be a net.Server/],
    ['no target', () => bindOrDie(s(), undefined as never), TypeError, /target must be/],
    ['empty target', () => bindOrDie(s(), {} as never), TypeError, /port or a path/],
    ['port and path', () => bindOrDie(s(), { port: 1, path: '/x' } as never), TypeError, /not both/],
    [
      'negative port',
      () => bindOrDie(s(), { port: -1 }),
      RangeError,
      /port must be an integer from 0 to 65535, got -1/,
    ],
    ['port too big', () => bindOrDie(s(), { port: 65536 }), RangeError, /got 65536/],
    ['fractional port', () => bindOrDie(s(), { port: 80.5 }), RangeError, /got 80.5/],
    ['NaN port', () => bindOrDie(s(), { port: Number.NaN }), RangeError, /got NaN/],
    ['string port', () => bindOrDie(s(), { port: '80' as never }), TypeError, /got "80"/],
    ['empty host', () => bindOrDie(s(), { port: 0, host: '' }), TypeError, /host must be a non-empty string/],
    ['numeric host', () => bindOrDie(s(), { port: 0, host: 1 as never }), TypeError, /host must be/],
    ['empty path', () => bindOrDie(s(), { path: '' }), TypeError, /path must be a non-empty string/],
    [
      'onLost not a function',
      () => bindOrDie(s(), { port: 0 }, { onLost: 1 as never }),
      TypeError,
      /onLost must be a function/,
    ],
    [
      'verifyWinner not a function',
      () => bindOrDie(s(), { port: 0 }, { verifyWinner: true as never }),
      TypeError,
      /verifyWinner/,
    ],
    [
      'negative verifyTimeoutMs',
      () => bindOrDie(s(), { port: 0 }, { verifyTimeoutMs: -1 }),
      RangeError,
      /verifyTimeoutMs must be a finite number of milliseconds >= 0, got -1/,
    ],
    [
      'infinite verifyTimeoutMs',
      () => bindOrDie(s(), { port: 0 }, { verifyTimeoutMs: Number.POSITIVE_INFINITY }),
      RangeError,
      /got Infinity/,
    ],
    [
      'exitCode 256',
      () => bindOrDie(s(), { port: 0 }, { exitCode: 256 }),
      RangeError,
      /exitCode must be an integer from 0 to 255, got 256/,
    ],
    ['exitCode -1', () => bindOrDie(s(), { port: 0 }, { exitCode: -1 }), RangeError, /got -1/],
    [
      'signal not an AbortSignal',
      () => bindOrDie(s(), { port: 0 }, { signal: {} as never }),
      TypeError,
      /signal must be an AbortSignal/,
    ],
    [
      'events not an emitter',
      () => bindOrDie(s(), { port: 0 }, { events: {} as never }),
      TypeError,
      /events must be a mitt emitter/,
    ],
    ['options null', () => bindOrDie(s(), { port: 0 }, null as never), TypeError, /options must be an object/],
  ])('%s', async (_name, call, type, message) => {
    const error = await call().catch((e) => e);
    expect(error).toBeInstanceOf(type);
    expect(error.message).toMatch(message);
  });
});
