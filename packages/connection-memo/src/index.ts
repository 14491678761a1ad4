export { ConnectTimeoutError, MemoClosedError } from './errors.js';
export type { CloseReason, ConnectionMemoEvents } from './events.js';
export {
  type ConnectionBreaker,
  type ConnectionMemo,
  type ConnectionMemoOptions,
  type MemoState,
  memoizeConnection,
  type SignalOptions,
} from './memo.js';
