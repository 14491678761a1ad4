import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthProof, isChallenge, newChallenge, probeIdentity, verifyHealthProof } from '../src/index.js';

const SECRET = 'a'.repeat(64);
const identity = { name: 'spawnguard-worker', version: '1.2.0', pid: 4242, startToken: 'b:1', instanceId: 'i-1' };

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A /health server; `answer` gets the challenge the client sent (or null) and this server's port. */
async function serve(
  answer: (challenge: string | null, port: number, req: IncomingMessage) => object,
): Promise<{ url: string; seen: (string | null)[] }> {
  const seen: (string | null)[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const challenge = url.searchParams.get('challenge');
    seen.push(challenge);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer(challenge, (server.address() as AddressInfo).port, req)));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`, seen };
}

const prove = (secret: string) => (challenge: string | null, port: number) => ({
  ...identity,
  ...(challenge ? { proof: createHealthProof({ secret, challenge, port }) } : {}),
});

describe('health proof', () => {
  it('a peer holding the secret is ours; the secret never crosses the wire', async () => {
    const requests: string[] = [];
    const { url, seen } = await serve((challenge, port, req) => {
      requests.push(`${req.url} ${JSON.stringify(req.headers)}`);
      return prove(SECRET)(challenge, port);
    });
    const result = await probeIdentity(url, { name: 'spawnguard-worker', version: '1.2.0' }, { secret: SECRET });
    expect(result.kind).toBe('ours');
    expect(isChallenge(seen[0])).toBe(true);
    expect(requests.join('\n')).not.toContain(SECRET);
  });

  it('a squatter that copies the identity is unproven, whatever name and version it claims', async () => {
    const { url } = await serve(() => identity);
    const result = await probeIdentity(url, { name: 'spawnguard-worker', version: '1.2.0' }, { secret: SECRET });
    expect(result.kind).toBe('unproven');
    expect(result.reason).toContain('could not prove');
    expect(result.reason).toContain('no proof');
    // Without a secret the same answer passes as ours: that is the hole a secret closes.
    expect((await probeIdentity(url, { name: 'spawnguard-worker' })).kind).toBe('ours');
  });

  it("another home's or user's worker (another secret) is unproven", async () => {
    const { url } = await serve(prove('b'.repeat(64)));
    const result = await probeIdentity(url, { name: 'spawnguard-worker' }, { secret: SECRET });
    expect(result.kind).toBe('unproven');
    expect(result.reason).toContain('wrong proof');
  });

  it('a relayed answer from our worker on another port does not count', async () => {
    // The squatter forwards our challenge to our real worker (other port) and replays its proof.
    const real = await serve(prove(SECRET));
    const realPort = Number(new URL(real.url).port);
    const { url } = await serve((challenge) => ({
      ...identity,
      proof: createHealthProof({ secret: SECRET, challenge: challenge!, port: realPort }),
    }));
    expect((await probeIdentity(url, { name: 'spawnguard-worker' }, { secret: SECRET })).kind).toBe('unproven');
  });

  it('each probe sends a fresh challenge (a recorded proof cannot be replayed)', async () => {
    const { url, seen } = await serve(prove(SECRET));
    await probeIdentity(url, { name: 'spawnguard-worker' }, { secret: SECRET });
    await probeIdentity(url, { name: 'spawnguard-worker' }, { secret: SECRET });
    expect(seen[0]).not.toBe(seen[1]);
  });

  it('version and instance are judged only after the proof', async () => {
    const { url } = await serve((challenge, port) => ({ ...prove(SECRET)(challenge, port), version: '0.9.0' }));
    expect((await probeIdentity(url, { name: 'spawnguard-worker', version: '1.2.0' }, { secret: SECRET })).kind).toBe(
      'other-version',
    );
  });

  it('verifyHealthProof is false for anything but the exact proof', () => {
    const challenge = newChallenge();
    const proof = createHealthProof({ secret: SECRET, challenge, port: 1234 });
    expect(verifyHealthProof({ secret: SECRET, challenge, port: 1234, proof })).toBe(true);
    expect(verifyHealthProof({ secret: SECRET, challenge, port: 1235, proof })).toBe(false);
    expect(verifyHealthProof({ secret: `${SECRET}x`, challenge, port: 1234, proof })).toBe(false);
    expect(verifyHealthProof({ secret: SECRET, challenge: newChallenge(), port: 1234, proof })).toBe(false);
    for (const bad of [undefined, null, 42, '', proof.toUpperCase(), `${proof}00`, proof.slice(2)]) {
      expect(verifyHealthProof({ secret: SECRET, challenge, port: 1234, proof: bad })).toBe(false);
    }
  });

  it('bad input is named', async () => {
    expect(() => createHealthProof({ secret: '', challenge: newChallenge(), port: 1 })).toThrow(/secret/);
    expect(() => createHealthProof({ secret: SECRET, challenge: 'xyz', port: 1 })).toThrow(/challenge must be/);
    expect(() => createHealthProof({ secret: SECRET, challenge: newChallenge(), port: 0 })).toThrow(RangeError);
    await expect(probeIdentity('http://127.0.0.1:1/health', { name: 'x' }, { secret: '' })).rejects.toThrow(
      /secret must be/,
    );
    expect(isChallenge('ab')).toBe(false);
    expect(isChallenge(newChallenge())).toBe(true);
  });
});
