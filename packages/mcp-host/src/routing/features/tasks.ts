import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { JSONRPC } from '../../errors.js';
import { type Msg, object } from '../../protocol/message.js';
import type { Pending, RouterCore, RouterFeature } from '../feature.js';
import type { Session } from '../session.js';

const TASK_METHODS = new Set(['tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list']);

/**
 * Tasks belong to the session that created them (the backend sees one client): another session's
 * task id is refused, `tasks/list` shows a session only its own tasks, and
 * `notifications/tasks/status` goes to the creator.
 */
export class Tasks implements RouterFeature {
  /** Task id (from a task-augmented request's result) → the session that created it. */
  readonly #owners = new Map<string, Session>();

  constructor(private readonly core: RouterCore) {}

  owner(taskId: string): Session | undefined {
    return this.#owners.get(taskId);
  }

  request(session: Session, message: Msg): boolean {
    if (!TASK_METHODS.has(message.method as string)) return false;
    if (message.method === 'tasks/list') {
      this.core.forward(session, message, (response) => {
        const tasks = response.result?.tasks;
        if (Array.isArray(tasks)) {
          response.result = { ...response.result, tasks: tasks.filter((t) => this.#owners.get(t?.taskId) === session) };
        }
      });
      return true;
    }
    const taskId = object(message.params)?.taskId;
    const owner = typeof taskId === 'string' ? this.#owners.get(taskId) : undefined;
    if (owner && owner !== session) {
      session.fail(message.id as RequestId, {
        code: JSONRPC.invalidParams,
        message: `no task ${taskId} in this session`,
      });
      return true;
    }
    this.core.forward(session, message, undefined);
    return true;
  }

  answered(_backendId: number, pending: Pending, message: Msg): void {
    const taskId = message.result?.task?.taskId;
    if (typeof taskId === 'string') this.#owners.set(taskId, pending.session);
  }

  backendMessage(_backend: unknown, message: Msg): boolean {
    if (message.method !== 'notifications/tasks/status' || message.id !== undefined) return false;
    const taskId = message.params?.taskId;
    const session = typeof taskId === 'string' ? this.#owners.get(taskId) : undefined;
    if (session) session.send(message as JSONRPCMessage);
    return true;
  }

  detach(): void {
    this.#owners.clear();
  }

  leave(session: Session): void {
    for (const [key, owner] of this.#owners) if (owner === session) this.#owners.delete(key);
  }
}
