/**
 * Who holds our port? A name and a version in /health prove nothing (any local user can bind the
 * port first and copy them; uids 1000 and 1100 even share the default port). A worker is ours only
 * when it proves it holds this home's token: we send a fresh challenge, it answers with
 * HMAC(token, port, challenge) (bind-or-die's health proof). The token itself is sent, as a Bearer
 * header, only to a worker that has just proven it holds it.
 */
import { type ProbeResult, probeIdentity } from '@spawnguard/bind-or-die';
import { type Config, HOST, WORKER_NAME } from '../config/config.js';
import { readToken } from '../config/home.js';
import { VERSION } from '../shared/version.js';

export interface WorkerProbe {
  probe: ProbeResult;
  /** The token the proof was checked against (null: this home has no token file). */
  token: string | null;
}

export interface ProbeWorkerOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Also compare the version (a proven worker of another version is `other-version`). Default true. */
  sameVersion?: boolean;
}

/**
 * Probes 127.0.0.1:<port>/health with this home's token as the secret. Without a token file,
 * something answering with our name cannot prove anything: `unproven`. A token that changed while
 * we probed (a worker that just booted or rotated it on SIGHUP) gets one more try with the new one.
 */
export async function probeWorker(
  config: Config,
  tokenPath: string,
  options: ProbeWorkerOptions,
): Promise<WorkerProbe> {
  const url = `http://${HOST}:${config.port}/health`;
  const expected = { name: WORKER_NAME, ...(options.sameVersion === false ? {} : { version: VERSION }) };
  const probeOptions = { timeoutMs: options.timeoutMs, ...(options.signal ? { signal: options.signal } : {}) };
  let token = readToken(tokenPath);
  let probe = await probeIdentity(url, expected, token === null ? probeOptions : { ...probeOptions, secret: token });
  if (probe.kind === 'unreachable' || probe.kind === 'foreign') return { probe, token };
  if (token === null || probe.kind === 'unproven') {
    // A worker writes its token before it serves a single request, so one that just answered has
    // written it by now: a token that appeared or changed while we probed gets one more try.
    const again = readToken(tokenPath);
    if (again !== null && again !== token) {
      token = again;
      probe = await probeIdentity(url, expected, { ...probeOptions, secret: token });
    }
  }
  if (token === null) {
    return {
      probe: {
        ...probe,
        kind: 'unproven',
        reason: `${probe.reason}, and ${config.home} has no token to check it with`,
      },
      token,
    };
  }
  return { probe, token };
}

/** The one line hook, start and status print when the port is held by someone who is not this home's worker. */
export function unprovenMessage(config: Config, probe: ProbeResult): string {
  const claimed = probe.identity?.pid === undefined ? '' : ` (it says pid ${String(probe.identity.pid)})`;
  return (
    `${HOST}:${config.port} is held by a process that answers as ${WORKER_NAME}${claimed} but cannot prove it is ` +
    `the worker of ${config.home}: another user's or another --home's worker, an older version, or an impostor. ` +
    `Nothing was sent to it. Use --port <n> (or SPAWNGUARD_PORT) to run this home's worker on another port, ` +
    'or `spawnguard-worker restart` if it is an older worker of this home.'
  );
}
