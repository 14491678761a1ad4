import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkMs, checkObject, checkSignal, show } from '@spawnguard/internal';
import { newChallenge, verifyHealthProof } from './health-proof.js';

/** What a spawnguard worker's `/health` answers with. */
export interface HealthIdentity {
  name: string;
  version?: string;
  pid?: number;
  startToken?: string;
  instanceId?: string;
  /** The answer to a `challenge` (see `createHealthProof`). */
  proof?: string;
  [key: string]: unknown;
}

export interface ExpectedIdentity {
  name: string;
  version?: string;
  instanceId?: string;
}

export type ProbeKind = 'ours' | 'other-version' | 'other-instance' | 'unproven' | 'foreign' | 'unreachable';

export interface ProbeResult {
  kind: ProbeKind;
  /** The parsed health body when it had at least a string `name`. */
  identity?: HealthIdentity;
  /** HTTP status, when an answer came back. */
  status?: number;
  /** One sentence a human can act on. */
  reason: string;
}

export interface ProbeOptions {
  /** Whole-request budget (connect, headers, body). Default 1000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * The secret a peer must prove it holds. With it, the probe sends a fresh `challenge` query
   * parameter and the answer counts as ours only with a valid `proof`; one that answers with our
   * name but no valid proof is `unproven` (a squatter, another user's or another home's worker).
   */
  secret?: string | Uint8Array;
}

const DEFAULT_TIMEOUT_MS = 1000;
/** A health body is a few hundred bytes; a foreign server streaming more is not ours. */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * Ask a `/health` URL who is listening, so a caller can tell its own healthy worker from an older
 * version, another instance or a foreign program on the port, and fail fast with a clear message.
 * Never throws for network trouble (that is `kind: 'unreachable'`); rejects only on bad input or
 * when `signal` aborts.
 */
export async function probeIdentity(
  url: string | URL,
  expected: ExpectedIdentity,
  options: ProbeOptions = {},
): Promise<ProbeResult> {
  const target = validateUrl(url);
  validateExpected(expected);
  const { timeoutMs, signal, secret } = validateProbeOptions(options);
  signal?.throwIfAborted();

  let proof: Proof | undefined;
  let asked = target;
  if (secret !== undefined) {
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
    proof = { secret, challenge: newChallenge(), port };
    asked = new URL(target.href);
    asked.searchParams.set('challenge', proof.challenge);
  }
  const answer = await fetchHealth(asked, timeoutMs, signal);
  if ('unreachable' in answer) return { kind: 'unreachable', reason: answer.unreachable };
  return classify(answer.status, answer.body, expected, target, proof);
}

interface Proof {
  secret: string | Uint8Array;
  challenge: string;
  port: number;
}

function classify(status: number, body: string, expected: ExpectedIdentity, url: URL, proof?: Proof): ProbeResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { kind: 'foreign', status, reason: `${url.href} answered ${status} with a body that is not JSON` };
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as HealthIdentity).name !== 'string') {
    return { kind: 'foreign', status, reason: `${url.href} answered ${status} without a health identity (no "name")` };
  }
  const identity = parsed as HealthIdentity;
  const who = `${identity.name}${identity.version ? `@${identity.version}` : ''}${identity.pid ? ` (pid ${identity.pid})` : ''}`;
  if (identity.name !== expected.name) {
    return {
      kind: 'foreign',
      identity,
      status,
      reason: `${url.href} is served by ${who}, not ${expected.name}`,
    };
  }
  if (proof && !verifyHealthProof({ ...proof, proof: identity.proof })) {
    return {
      kind: 'unproven',
      identity,
      status,
      reason:
        `${url.href} answers as ${who} but could not prove it holds our secret ` +
        `(${identity.proof === undefined ? 'no proof' : 'wrong proof'}): another user's or another home's worker, or an impostor`,
    };
  }
  if (expected.version !== undefined && identity.version !== expected.version) {
    return {
      kind: 'other-version',
      identity,
      status,
      reason: `${url.href} is served by ${who}, expected version ${expected.version}; stop it and start this version`,
    };
  }
  if (expected.instanceId !== undefined && identity.instanceId !== expected.instanceId) {
    return {
      kind: 'other-instance',
      identity,
      status,
      reason: `${url.href} is served by another ${expected.name} instance (${String(identity.instanceId)}), expected ${expected.instanceId}`,
    };
  }
  if (status < 200 || status > 299) {
    return { kind: 'ours', identity, status, reason: `${url.href} is ${who} but reports status ${status}` };
  }
  return { kind: 'ours', identity, status, reason: `${url.href} is ${who}` };
}

type Answer = { status: number; body: string } | { unreachable: string };

/** node:http rather than fetch: no pooled keep-alive socket outlives the probe. */
function fetchHealth(url: URL, timeoutMs: number, signal: AbortSignal | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (answer: Answer | null, error?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      if (answer) resolve(answer);
      else reject(error);
    };
    const onAbort = () => finish(null, signal?.reason);
    const timer = setTimeout(
      () => finish({ unreachable: `${url.href} did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    timer.unref();
    const req = request(url, { method: 'GET', agent: false, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          finish({ status: res.statusCode ?? 0, body: '' });
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => finish({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => finish({ unreachable: `${url.href} broke off the answer: ${error.message}` }));
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      finish({ unreachable: `${url.href} is unreachable: ${error.code ?? error.message}` }),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end();
  });
}

function validateUrl(url: unknown): URL {
  let parsed: URL;
  try {
    parsed = url instanceof URL ? url : new URL(String(url));
  } catch {
    throw new TypeError(`url must be an absolute http(s) URL, got ${show(url)}`);
  }
  if (typeof url !== 'string' && !(url instanceof URL)) {
    throw new TypeError(`url must be a string or URL, got ${show(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`url must use http: or https:, got ${parsed.protocol}`);
  }
  return parsed;
}

function validateExpected(expected: unknown): asserts expected is ExpectedIdentity {
  if (typeof expected !== 'object' || expected === null) {
    throw new TypeError(`expected must be { name, version?, instanceId? }, got ${show(expected)}`);
  }
  const e = expected as Record<string, unknown>;
  if (typeof e.name !== 'string' || e.name.length === 0) {
    throw new TypeError(`expected.name must be a non-empty string, got ${show(e.name)}`);
  }
  for (const key of ['version', 'instanceId'] as const) {
    if (e[key] !== undefined && typeof e[key] !== 'string') {
      throw new TypeError(`expected.${key} must be a string, got ${show(e[key])}`);
    }
  }
}

function validateProbeOptions(options: unknown): {
  timeoutMs: number;
  signal: AbortSignal | undefined;
  secret: string | Uint8Array | undefined;
} {
  const o = checkObject('options', options) as ProbeOptions;
  const timeoutMs = checkMs('timeoutMs', o.timeoutMs, { fallback: DEFAULT_TIMEOUT_MS, minExclusive: true });
  const signal = checkSignal('signal', o.signal);
  const { secret } = o;
  if (
    secret !== undefined &&
    !(typeof secret === 'string' && secret.length > 0) &&
    !(secret instanceof Uint8Array && secret.length > 0)
  ) {
    throw new TypeError(`secret must be a non-empty string or Uint8Array, got ${typeof secret}`);
  }
  return { timeoutMs, signal, secret };
}
