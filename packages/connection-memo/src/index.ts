export { ConnectTimeoutError, MemoClosedError } from './errors.js';
export type { CloseReason, ConnectionMemoEvents } from './events.js';
export { memoizeConnection } from './memo.js';
export type {
  ConnectionBreaker,
  ConnectionMemo,
  ConnectionMemoOptions,
  MemoState,
  SignalOptions,
} from './options.js';
