import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { everything } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

/**
 * server-everything's simulate-research-query is a task tool: its elicitation is queued by the SDK
 * with `_meta["io.modelcontextprotocol/related-task"]` and delivered while the client waits on
 * tasks/result. That tag is on the wire, so the host routes it by task, with no ambiguity, even
 * with both sessions in flight at once on a shared backend.
 */
describe('task-augmented calls', () => {
  it('two sessions run ambiguous research tasks at once; each elicitation goes to the task creator', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker) } });
    const asked = { A: [] as string[], B: [] as string[] };
    const decliner = (name: 'A' | 'B') => (client: Client) =>
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked[name].push(request.params.message);
        return { action: 'decline' };
      });
    const a = await w.connect('everything', { capabilities: { elicitation: { form: {} } }, setup: decliner('A') });
    const b = await w.connect('everything', { capabilities: { elicitation: { form: {} } }, setup: decliner('B') });
    const taskIds: string[] = [];
    const run = async (client: Client, topic: string) => {
      let text = '';
      const stream = client.experimental.tasks.callToolStream(
        { name: 'simulate-research-query', arguments: { topic, ambiguous: true } },
        CallToolResultSchema,
        { timeout: 30_000, task: { ttl: 60_000 } },
      );
      for await (const message of stream) {
        if (message.type === 'taskCreated') taskIds.push(message.task.taskId);
        if (message.type === 'result') text = JSON.stringify(message.result);
        if (message.type === 'error') throw message.error;
      }
      return text;
    };
    const [ra, rb] = await Promise.all([run(a.client, 'alpha topic'), run(b.client, 'beta topic')]);
    expect(asked.A).toHaveLength(1);
    expect(asked.B).toHaveLength(1);
    expect(asked.A[0]).toContain('alpha topic');
    expect(asked.B[0]).toContain('beta topic');
    expect(ra).toContain('alpha topic');
    expect(ra).toContain('User declined');
    expect(rb).toContain('beta topic');
    expect(rb).toContain('User declined');
    // Each session sees and reaches only its own tasks.
    const listA = await a.client.experimental.tasks.listTasks();
    const listB = await b.client.experimental.tasks.listTasks();
    expect(listA.tasks).toHaveLength(1);
    expect(listB.tasks).toHaveLength(1);
    expect(listA.tasks[0]!.taskId).not.toBe(listB.tasks[0]!.taskId);
    expect(taskIds.sort()).toEqual([listA.tasks[0]!.taskId, listB.tasks[0]!.taskId].sort());
    await expect(a.client.experimental.tasks.getTask(listB.tasks[0]!.taskId)).rejects.toThrow(/no task/);
    expect((await b.client.experimental.tasks.getTask(listB.tasks[0]!.taskId)).status).toBe('completed');
  }, 60_000);
});
