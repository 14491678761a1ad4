import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHealthProof, isChallenge } from '@spawnguard/bind-or-die';
import { MCP_BODY_LIMIT } from '../config/config.js';
import type { Logger } from '../shared/log.js';
import type { EventStore } from './events-store.js';
import { EVENT_NAME } from './events-store.js';
import { answerThenClose, type LingerLimits } from './lingering-close.js';
import type { Counter, Metrics } from './metrics.js';
import {
  HttpError,
  hasBearer,
  isAllowedHost,
  isAllowedOrigin,
  isCrossSiteFetch,
  readBody,
  readJson,
} from './security.js';
import { unavailableToHttp } from './unavailable.js';

/**
 * What /health answers: identity only, nothing secret. bind-or-die's probeIdentity reads it. With
 * `?challenge=<hex>` it also carries `proof`: HMAC(token, port, challenge), which only a worker
 * holding this home's token can compute. The identity alone proves nothing.
 */
export interface HealthBody {
  name: string;
  version: string;
  pid: number;
  startToken: string;
  instanceId: string;
  naive: boolean;
  proof?: string;
}

/** The MCP endpoints `/mcp/<name>`: the daemon's host (or, naive, one server copy per session). */
export interface McpEndpoint {
  has(name: string): boolean;
  /** A 503 to answer instead when the server's circuit is open (new sessions only), else null. */
  unavailable(name: string): HttpError | null;
  handle(name: string, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
}

/** Everything the routes need from the daemon; the routes own no state of their own. */
export interface RouteContext {
  port: number;
  health(): HealthBody;
  /**
   * The token every route but /health and /ready asks for: read (or created) once, when this daemon
   * won the bind; null before. Nothing re-reads it (a SIGHUP neither): to rotate it, delete the
   * file and restart the worker.
   */
  token(): string | null;
  /** false until leftovers are reaped, and again while shutting down. */
  ready(): boolean;
  /** Resolves once boot work (pid file, reaping leftovers) is done; routes that do work wait for it. */
  booted: Promise<void>;
  events: EventStore;
  search(query: string, signal: AbortSignal): Promise<unknown>;
  mcp: McpEndpoint;
  /** Retry-After for an open circuit whose error does not say when (unavailable.ts). */
  breakerCooldownMs: number;
  status(): Promise<Record<string, unknown>>;
  shutdown(reason: string): void;
  metrics: Metrics;
  requests: Counter;
  /** How long, and how much of a body, is read and thrown away after an early answer (lingering-close.ts). */
  linger: LingerLimits;
  log: Logger;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;
interface Route {
  methods: Record<string, Handler>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { ...jsonHeaders(headers), 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const jsonHeaders = (headers: Record<string, string>): Record<string, string> => ({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  ...headers,
});

function requireToken(ctx: RouteContext, req: IncomingMessage): void {
  if (!hasBearer(req.headers.authorization, ctx.token())) {
    throw new HttpError(401, 'missing or wrong bearer token (Authorization: Bearer <token file in the home folder>)', {
      'www-authenticate': 'Bearer realm="spawnguard-worker"',
    });
  }
}

export function createRoutes(ctx: RouteContext): Map<string, Route> {
  const routes = new Map<string, Route>();

  routes.set('/health', {
    methods: {
      GET: async (_req, res, url) => {
        const body = ctx.health();
        const challenge = url.searchParams.get('challenge');
        if (challenge !== null) {
          if (!isChallenge(challenge)) {
            throw new HttpError(400, 'challenge must be 32 to 128 lowercase hex characters (a fresh random nonce)');
          }
          const token = ctx.token();
          if (token) body.proof = createHealthProof({ secret: token, challenge, port: ctx.port });
        }
        sendJson(res, 200, body);
      },
    },
  });

  routes.set('/ready', {
    methods: {
      GET: async (_req, res) => {
        const ready = ctx.ready();
        sendJson(res, ready ? 200 : 503, { ready });
      },
    },
  });

  routes.set('/events', {
    methods: {
      POST: async (req, res) => {
        requireToken(ctx, req);
        const body = await readJson(req);
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new HttpError(400, 'request body must be a JSON object like {"event":"name","payload":{}}');
        }
        const { event, payload } = body as { event?: unknown; payload?: unknown };
        if (typeof event !== 'string' || !EVENT_NAME.test(event)) {
          throw new HttpError(
            400,
            `"event" must be a string matching ${EVENT_NAME}, got ${JSON.stringify(event) ?? 'nothing'}`,
          );
        }
        await ctx.booted;
        const count = ctx.events.add(event, payload ?? null);
        sendJson(res, 202, { name: ctx.health().name, accepted: true, count });
      },
    },
  });

  routes.set('/search', {
    methods: {
      GET: async (req, res, url) => {
        requireToken(ctx, req);
        const query = url.searchParams.get('q');
        if (!query || query.trim() === '') throw new HttpError(400, 'missing query: use /search?q=<words>');
        if (query.length > 1000) throw new HttpError(400, `query is ${query.length} characters; the limit is 1000`);
        await ctx.booted;
        const aborted = new AbortController();
        res.once('close', () => aborted.abort(new Error('client went away')));
        const result = await ctx.search(query, aborted.signal);
        sendJson(res, 200, result);
      },
    },
  });

  routes.set('/metrics', {
    methods: {
      // The series name every configured server and what it is doing: for the token holder only.
      GET: async (req, res) => {
        requireToken(ctx, req);
        const text = ctx.metrics.render();
        res.writeHead(200, {
          'content-type': 'text/plain; version=0.0.4; charset=utf-8',
          'content-length': Buffer.byteLength(text),
          'cache-control': 'no-store',
        });
        res.end(text);
      },
    },
  });

  routes.set('/status', {
    methods: {
      GET: async (req, res) => {
        requireToken(ctx, req);
        sendJson(res, 200, await ctx.status());
      },
    },
  });

  routes.set('/shutdown', {
    methods: {
      POST: async (req, res) => {
        requireToken(ctx, req);
        sendJson(res, 202, { stopping: true, pid: ctx.health().pid });
        res.once('finish', () => ctx.shutdown('POST /shutdown'));
      },
    },
  });

  return routes;
}

const MCP_PATH = /^\/mcp\/([^/]+)$/;

/**
 * `/mcp/<name>`: the Streamable HTTP endpoint of one hosted server (POST messages, GET stream,
 * DELETE session). Token first, then the name (404), then the body (413 over the limit, 400 when
 * not JSON); a new session while the server's circuit is open gets 503 + Retry-After.
 */
async function handleMcp(ctx: RouteContext, req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
  requireToken(ctx, req);
  let server: string;
  try {
    server = decodeURIComponent(name);
  } catch {
    throw new HttpError(400, 'malformed server name in the path');
  }
  if (!ctx.mcp.has(server)) throw new HttpError(404, `no MCP server named ${JSON.stringify(server)} is configured`);
  const method = req.method ?? 'GET';
  if (!['POST', 'GET', 'DELETE'].includes(method)) {
    throw new HttpError(405, `${method} is not allowed on /mcp/${name}; use POST, GET, DELETE`, {
      allow: 'POST, GET, DELETE',
    });
  }
  await ctx.booted;
  let body: unknown;
  if (method === 'POST') {
    const raw = await readBody(req, MCP_BODY_LIMIT);
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`);
    }
    if (req.headers['mcp-session-id'] === undefined) {
      const unavailable = ctx.mcp.unavailable(server);
      if (unavailable) throw unavailable;
    }
  }
  await ctx.mcp.handle(server, req, res, body);
}

/**
 * The request handler: security checks first (Host, Origin), then routing (404/405), then the
 * route, all inside one try/catch so nothing a request sends can crash the daemon.
 */
export function createRequestHandler(ctx: RouteContext): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = createRoutes(ctx);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<string> {
    if (!isAllowedHost(req.headers.host, ctx.port)) {
      throw new HttpError(403, `forbidden Host ${JSON.stringify(req.headers.host ?? '')}: use 127.0.0.1:${ctx.port}`);
    }
    const origin = req.headers.origin;
    if (!isAllowedOrigin(origin, ctx.port)) {
      throw new HttpError(403, `forbidden Origin ${JSON.stringify(origin)}`);
    }
    if (isCrossSiteFetch(req.headers['sec-fetch-site'])) {
      // A web page's no-cors GET carries no Origin, but a browser marks it with fetch metadata.
      throw new HttpError(
        403,
        `forbidden cross-site request (Sec-Fetch-Site: ${String(req.headers['sec-fetch-site'])})`,
      );
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${ctx.port}`);
    } catch {
      throw new HttpError(400, 'malformed request target');
    }
    const mcp = MCP_PATH.exec(url.pathname);
    if (mcp) {
      await handleMcp(ctx, req, res, mcp[1]!);
      return '/mcp';
    }
    const route = routes.get(url.pathname);
    if (!route) throw new HttpError(404, `no route ${url.pathname}`);
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const handler = route.methods[method];
    if (!handler) {
      const allow = Object.keys(route.methods).join(', ');
      throw new HttpError(405, `${req.method} is not allowed on ${url.pathname}; use ${allow}`, { allow });
    }
    await handler(req, res, url);
    return url.pathname;
  }

  return (req, res) => {
    let route = 'unknown';
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    if (routes.has(pathname)) route = pathname;
    else if (MCP_PATH.test(pathname)) route = '/mcp';
    res.once('finish', () => ctx.requests.inc({ route, status: String(res.statusCode) }));
    handle(req, res).catch((error: unknown) => {
      let status: number;
      let answered = error;
      const headers: Record<string, string> = {};
      if (error instanceof HttpError) {
        status = error.status;
        Object.assign(headers, error.headers);
      } else {
        ctx.log.error('request.failed', { route, method: req.method, error });
        // An open circuit that no route mapped itself: 503 + Retry-After, from the one mapping.
        const unavailable = unavailableToHttp(error, ctx.breakerCooldownMs);
        status = unavailable?.status ?? 500;
        if (unavailable) {
          Object.assign(headers, unavailable.headers);
          answered = unavailable;
        }
      }
      const message = (answered as Error)?.message ?? String(answered);
      try {
        if (res.headersSent || req.complete) {
          sendJson(res, status, { error: message }, headers);
        } else {
          // Answered before the body was read (413, 408, 401 ...): the client may still be writing it.
          answerThenClose(
            req,
            res,
            status,
            `${JSON.stringify({ error: message })}\n`,
            jsonHeaders(headers),
            ctx.linger,
          );
        }
      } catch {
        res.destroy();
      }
    });
  };
}
