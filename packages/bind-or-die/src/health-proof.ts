import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { show } from '@spawnguard/internal';

/**
 * A name and a version in `/health` prove nothing: any local user can bind the port first and copy
 * them. A peer is ours only when it proves it holds a secret we share (a token in a 0600 file), and
 * the secret itself never crosses the wire: the client sends a fresh random challenge, the server
 * answers HMAC-SHA256(secret, purpose, port, challenge). The port is in the MAC so a squatter cannot
 * relay our challenge to our real worker on another port and replay its answer.
 */
const PURPOSE = 'bind-or-die/health-proof/v1';
const CHALLENGE = /^[0-9a-f]{32,128}$/;

/** 32 random bytes, hex: the `challenge` a client sends. */
export function newChallenge(): string {
  return randomBytes(32).toString('hex');
}

/** true for what `newChallenge` makes (32 to 128 lowercase hex characters); servers check before answering. */
export function isChallenge(value: unknown): value is string {
  return typeof value === 'string' && CHALLENGE.test(value);
}

export interface HealthProofInput {
  /** The shared secret (for example the contents of a 0600 token file). */
  secret: string | Uint8Array;
  /** The client's challenge (`newChallenge()`). */
  challenge: string;
  /** The TCP port the server is bound to (the client: the port it dialled). */
  port: number;
}

function check({ secret, challenge, port }: HealthProofInput): void {
  if (typeof secret === 'string' ? secret.length === 0 : !(secret instanceof Uint8Array) || secret.length === 0) {
    throw new TypeError('secret must be a non-empty string or Uint8Array');
  }
  if (!isChallenge(challenge)) {
    throw new TypeError(`challenge must be 32 to 128 lowercase hex characters, got ${show(challenge)}`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`port must be an integer from 1 to 65535, got ${show(port)}`);
  }
}

/** The server's answer to a challenge: hex HMAC-SHA256. */
export function createHealthProof(input: HealthProofInput): string {
  check(input);
  return createHmac('sha256', input.secret).update(`${PURPOSE}\n${input.port}\n${input.challenge}`).digest('hex');
}

/** Constant-time check of a server's `proof`; false for anything that is not the expected proof. */
export function verifyHealthProof(input: HealthProofInput & { proof: unknown }): boolean {
  if (typeof input.proof !== 'string' || !/^[0-9a-f]{64}$/.test(input.proof)) return false;
  const expected = Buffer.from(createHealthProof(input), 'hex');
  return timingSafeEqual(expected, Buffer.from(input.proof, 'hex'));
}
