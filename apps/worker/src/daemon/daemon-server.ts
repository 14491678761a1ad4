import { createServer, type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { bindOrDie, createBindOrDieEvents, type ProbeResult } from '@spawnguard/bind-or-die';
import { checkInteger, MAX_TIMER_MS } from '@spawnguard/internal';
import { probeWorker, unprovenMessage } from '../client/identity.js';
import { type Config, HOST, REQUEST_TIMEOUT_MS } from '../config/config.js';
import type { HomePaths } from '../config/home.js';
import type { Logger } from '../shared/log.js';

const VERIFY_TIMEOUT_MS = 2000;

export interface WorkerServerOptions {
  /** Connections served at once; past it a new connection is closed at once. Default 1024. */
  maxConnections?: number;
  /** A connection that has not sent its request headers within this is dropped (a silent one too). Default 10 000. */
  headersTimeoutMs?: number;
  /** A whole request (headers and body) must arrive within this; at least headersTimeoutMs. Default 30 000. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this. Default 5000. */
  keepAliveTimeoutMs?: number;
  /**
   * How often the server looks for connections past the header or request timeout: node enforces
   * both only at this check, so a peer can hold its slot up to this long past them. Node's default
   * is 30 s; ours 1000.
   */
  checkIntervalMs?: number;
}

/** What node itself would answer before it drops a connection, by parser error. */
const CLIENT_ERROR_ANSWER: Record<string, string> = {
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
};

/**
 * The daemon's HTTP server, with limits a local daemon should have anyway: a peer that sends
 * garbage, nothing, or its headers a byte at a time cannot hold a connection slot (1024 of them)
 * past the header timeout, and a request cannot stay open past the request timeout.
 */
export function createWorkerServer(handler: RequestListener, options: WorkerServerOptions = {}): Server {
  const maxConnections = checkInteger('maxConnections', options.maxConnections, { min: 1, fallback: 1024 });
  const requestTimeout = checkInteger('requestTimeoutMs', options.requestTimeoutMs, {
    min: 1,
    max: MAX_TIMER_MS,
    fallback: REQUEST_TIMEOUT_MS,
  });
  const headersTimeout = checkInteger('headersTimeoutMs', options.headersTimeoutMs, {
    min: 1,
    max: requestTimeout,
    fallback: Math.min(10_000, requestTimeout),
  });
  const keepAliveTimeout = checkInteger('keepAliveTimeoutMs', options.keepAliveTimeoutMs, {
    min: 1,
    max: MAX_TIMER_MS,
    fallback: 5000,
  });
  const connectionsCheckingInterval = checkInteger('checkIntervalMs', options.checkIntervalMs, {
    min: 1,
    max: MAX_TIMER_MS,
    fallback: 1000,
  });
  const server = createServer(
    { requestTimeout, headersTimeout, keepAliveTimeout, connectionsCheckingInterval, maxHeaderSize: 16 * 1024 },
    handler,
  );
  server.maxConnections = maxConnections;
  // A malformed request, a header overflow, or a peer past the header/request timeout: answer if
  // nothing was written yet, then destroy. end() would wait for the peer to close its side (the
  // server allows half-open sockets), which a peer that never reads never does: its slot stays taken.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (socket.writable && socket.bytesWritten === 0) {
      const status = CLIENT_ERROR_ANSWER[error.code ?? ''] ?? '400 Bad Request';
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}

/**
 * Step 1 of the boot: bind 127.0.0.1:<port>, or lose quietly before any background work.
 * Losing to this home's own worker is success (exit 0). Losing to anything that cannot prove it
 * holds this home's token (a squatter copying /health, another home's worker) exits 1 with one
 * stderr line saying who holds the port and what to do: exiting 0 there would leave this home
 * without a worker, silently.
 */
export async function bindWorker(server: Server, config: Config, paths: HomePaths, log: Logger): Promise<void> {
  let lastProbe: ProbeResult | null = null;
  await bindOrDie(
    server,
    { port: config.port, host: HOST },
    {
      events: createBindOrDieEvents(),
      verifyTimeoutMs: VERIFY_TIMEOUT_MS,
      verifyWinner: async ({ signal }) => {
        const { probe } = await probeWorker(config, paths.token, { signal, timeoutMs: 500, sameVersion: false });
        lastProbe = probe;
        return probe.kind === 'ours';
      },
      onLost: ({ address, winnerVerified }) => {
        if (winnerVerified) {
          log.log('bind.lost', { address, winnerVerified });
          process.exit(0);
        }
        const probe = lastProbe as ProbeResult | null;
        const message =
          probe?.kind === 'unproven'
            ? unprovenMessage(config, probe)
            : `${address} is taken by a process that did not prove it is this home's worker within ` +
              `${VERIFY_TIMEOUT_MS} ms${probe ? ` (${probe.reason})` : ''}; use --port or SPAWNGUARD_PORT`;
        log.error('bind.lost_to_unproven', { address, reason: probe?.reason ?? null });
        process.stderr.write(`spawnguard-worker: ${message}\n`);
        process.exit(1);
      },
    },
  );
  log.log('bind.ok', { address: `${HOST}:${config.port}` });
}
