export type {
  BindOrDieEvents,
  BindOrDieOptions,
  BindTarget,
  LostInfo,
  SocketTarget,
  TcpTarget,
} from './bind-or-die.js';
export { bindOrDie, createBindOrDieEvents } from './bind-or-die.js';
export { LostBindError, NotASocketError } from './errors.js';
export type { HealthProofInput } from './health-proof.js';
export { createHealthProof, isChallenge, newChallenge, verifyHealthProof } from './health-proof.js';
export type {
  ExpectedIdentity,
  HealthIdentity,
  ProbeKind,
  ProbeOptions,
  ProbeResult,
} from './probe-identity.js';
export { probeIdentity } from './probe-identity.js';
