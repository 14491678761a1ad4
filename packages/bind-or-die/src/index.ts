export { bindOrDie } from './bind-or-die.js';
export { LostBindError, NotASocketError } from './errors.js';
export type { HealthProofInput } from './health-proof.js';
export { createHealthProof, isChallenge, newChallenge, verifyHealthProof } from './health-proof.js';
export type {
  BindOrDieEvents,
  BindOrDieOptions,
  BindTarget,
  LostInfo,
  SocketTarget,
  TcpTarget,
} from './options.js';
export { createBindOrDieEvents } from './options.js';
export type {
  ExpectedIdentity,
  HealthIdentity,
  ProbeKind,
  ProbeOptions,
  ProbeResult,
} from './probe-identity.js';
export { probeIdentity } from './probe-identity.js';
