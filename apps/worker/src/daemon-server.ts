import { createServer, type RequestListener, type Server } from 'node:http';
import { bindOrDie, createBindOrDieEvents, type ProbeResult } from '@spawnguard/bind-or-die';
import { type Config, HOST } from './config.js';
import type { HomePaths } from './home.js';
import { probeWorker, unprovenMessage } from './identity.js';
import type { Logger } from './log.js';

const VERIFY_TIMEOUT_MS = 2000;

/**
 * The daemon's HTTP server, with limits a local daemon should have anyway: a slow or stuck client
 * cannot hold a request open forever, nor a connection slot past 1024, and a malformed request
 * gets a 400 instead of an open socket.
 */
export function createWorkerServer(handler: RequestListener): Server {
  const server = createServer(
    { requestTimeout: 30_000, headersTimeout: 10_000, keepAliveTimeout: 5000, maxHeaderSize: 16 * 1024 },
    handler,
  );
  server.maxConnections = 1024;
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
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
