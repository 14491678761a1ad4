import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { pidsCarrying } from '../../../test-kit/processes.js';
import type { McpHostEvents, ServerConfig } from '../src/index.js';
import { everything, FIXTURES, recorded, textOf } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();
const CALL = { timeout: 20_000 };

/** fixtures/deferred-sampler.mjs: `queue` returns at once; the next `slow` call sends the queued sampling requests. */
const deferred = (marker: string, recordFile: string, extra: Partial<ServerConfig> = {}): ServerConfig => ({
  command: process.execPath,
  args: [join(FIXTURES, 'deferred-sampler.mjs'), marker],
  env: { RECORD_FILE: recordFile },
  ...extra,
});

/** A client that answers sampling with its own name and records every sampling request it gets. */
function sampler(name: string, seen: string[]) {
  return (client: Client) =>
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const content = request.params.messages[0]?.content as { text?: string };
      seen.push(content.text ?? '');
      return { role: 'assistant', model: `model-${name}`, content: { type: 'text', text: `answer from ${name}` } };
    });
}

describe('server-to-client requests go to the session whose request caused them', () => {
  it('two sessions trigger sampling at the same moment (serialize): each gets exactly its own request and result', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker, { serialize: true }) } });
    const seenA: string[] = [];
    const seenB: string[] = [];
    const a = await w.connect('everything', { name: 'A', capabilities: { sampling: {} }, setup: sampler('A', seenA) });
    const b = await w.connect('everything', { name: 'B', capabilities: { sampling: {} }, setup: sampler('B', seenB) });
    for (let round = 0; round < 5; round++) {
      const [ra, rb] = await Promise.all([
        a.client.callTool(
          { name: 'trigger-sampling-request', arguments: { prompt: `from A ${round}` } },
          undefined,
          CALL,
        ),
        b.client.callTool(
          { name: 'trigger-sampling-request', arguments: { prompt: `from B ${round}` } },
          undefined,
          CALL,
        ),
      ]);
      expect(ra.isError).toBeFalsy();
      expect(rb.isError).toBeFalsy();
      expect(textOf(ra)).toContain('answer from A');
      expect(textOf(ra)).not.toContain('answer from B');
      expect(textOf(rb)).toContain('answer from B');
      expect(textOf(rb)).not.toContain('answer from A');
    }
    expect(seenA).toEqual([0, 1, 2, 3, 4].map((r) => `Resource trigger-sampling-request context: from A ${r}`));
    expect(seenB).toEqual([0, 1, 2, 3, 4].map((r) => `Resource trigger-sampling-request context: from B ${r}`));
    expect(pidsCarrying(w.marker)).toHaveLength(1);
  });

  it('two sessions trigger elicitation at the same moment (serialize): each answers only its own', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker, { serialize: true }) } });
    const asked: Record<string, number> = { A: 0, B: 0 };
    const elicitor = (name: string) => (client: Client) =>
      client.setRequestHandler(ElicitRequestSchema, async () => {
        asked[name]!++;
        return { action: 'accept', content: { name: `user ${name}`, check: true } };
      });
    const a = await w.connect('everything', { capabilities: { elicitation: { form: {} } }, setup: elicitor('A') });
    const b = await w.connect('everything', { capabilities: { elicitation: { form: {} } }, setup: elicitor('B') });
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'trigger-elicitation-request', arguments: {} }, undefined, CALL),
      b.client.callTool({ name: 'trigger-elicitation-request', arguments: {} }, undefined, CALL),
    ]);
    expect(textOf(ra)).toContain('Name: user A');
    expect(textOf(rb)).toContain('Name: user B');
    expect(asked).toEqual({ A: 1, B: 1 });
  });

  it('a session without the capability gets an error result quickly, not a hang', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker, { serialize: true }) } });
    const errors: McpHostEvents['routingError'][] = [];
    w.host.events.on('routingError', (e) => errors.push(e));
    const plain = await w.connect('everything', { capabilities: {} });
    const result = await plain.client.callTool(
      { name: 'trigger-sampling-request', arguments: { prompt: 'x' } },
      undefined,
      { timeout: 10_000 },
    );
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/sampling/);
    expect(errors).toContainEqual(
      expect.objectContaining({ reason: 'capability-missing', method: 'sampling/createMessage' }),
    );
    const elicit = await plain.client.callTool({ name: 'trigger-elicitation-request', arguments: {} }, undefined, {
      timeout: 10_000,
    });
    expect(elicit.isError).toBe(true);
  });

  it("A's queued job asks for sampling while only B is busy: B never receives A's text, the backend gets an error", async () => {
    const file = join(world.get().dir, 'outcomes.jsonl');
    const w = await world.start({ servers: { deferred: deferred(world.get().marker, file) } });
    const errors: McpHostEvents['routingError'][] = [];
    w.host.events.on('routingError', (e) => errors.push(e));
    const seenA: string[] = [];
    const seenB: string[] = [];
    const a = await w.connect('deferred', { name: 'A', capabilities: { sampling: {} }, setup: sampler('A', seenA) });
    const b = await w.connect('deferred', { name: 'B', capabilities: { sampling: {} }, setup: sampler('B', seenB) });
    // A's tool queues a job and returns: A has nothing in flight any more.
    expect(textOf(await a.client.callTool({ name: 'queue', arguments: { text: 'A-PRIVATE-NOTES' } }))).toBe('queued');
    // The job's sampling request arrives while B's call, and only B's, is in flight.
    const slow = await b.client.callTool({ name: 'slow', arguments: {} }, undefined, CALL);
    expect(seenB).toEqual([]);
    expect(seenA).toEqual([]);
    expect(textOf(slow)).not.toContain('answer from');
    const outcomes = recorded(file) as Array<{
      job?: string;
      result?: unknown;
      error?: { code: number; message: string };
    }>;
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]!.job).toBe('A-PRIVATE-NOTES');
    expect(outcomes[0]!.result).toBeUndefined();
    expect(outcomes[0]!.error?.code).toBe(-32603);
    expect(outcomes[0]!.error?.message).toMatch(/cannot route sampling\/createMessage/);
    expect(errors).toContainEqual(
      expect.objectContaining({ reason: 'ambiguous', method: 'sampling/createMessage', sessionId: null }),
    );
  });

  it('without serialize, even one session in flight does not make it the owner: refused at once (never guessed)', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker) } });
    const errors: McpHostEvents['routingError'][] = [];
    w.host.events.on('routingError', (e) => errors.push(e));
    const seenA: string[] = [];
    const a = await w.connect('everything', { capabilities: { sampling: {} }, setup: sampler('A', seenA) });
    const result = await a.client.callTool(
      { name: 'trigger-sampling-request', arguments: { prompt: 'from A' } },
      undefined,
      CALL,
    );
    expect(result.isError).toBe(true);
    expect(seenA).toEqual([]);
    expect(errors).toContainEqual(expect.objectContaining({ reason: 'ambiguous', method: 'sampling/createMessage' }));
  });

  it('per-session: each session has its own process and sees its own roots', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker, { share: 'per-session' }) } });
    const rooted = (uri: string) => (client: Client) =>
      client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri, name: uri }] }));
    const a = await w.connect('everything', { capabilities: { roots: {} }, setup: rooted('file:///work/a') });
    const b = await w.connect('everything', { capabilities: { roots: {} }, setup: rooted('file:///work/b') });
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'get-roots-list', arguments: {} }, undefined, CALL),
      b.client.callTool({ name: 'get-roots-list', arguments: {} }, undefined, CALL),
    ]);
    expect(textOf(ra)).toContain('file:///work/a');
    expect(textOf(ra)).not.toContain('file:///work/b');
    expect(textOf(rb)).toContain('file:///work/b');
    expect(textOf(rb)).not.toContain('file:///work/a');
    expect(pidsCarrying(w.marker)).toHaveLength(2);
    const [stats] = w.host.stats();
    expect(stats!.pids).toHaveLength(2);
    await a.close();
    await b.close();
    // Each backend stops with its session.
    const deadline = Date.now() + 10_000;
    while (pidsCarrying(w.marker).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pidsCarrying(w.marker)).toHaveLength(0);
  });
});

describe('progress', () => {
  it('two sessions on a long-running tool each receive only their own progress (same token on both)', async () => {
    const w = await world.start({ servers: { everything: everything(world.get().marker) } });
    const a = await w.connect('everything');
    const b = await w.connect('everything');
    const progressA: Array<{ progress: number; total?: number }> = [];
    const progressB: Array<{ progress: number; total?: number }> = [];
    // Both clients number their requests the same way, so both calls carry the same progress token.
    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
        ...CALL,
        onprogress: (p) => progressA.push(p),
      }),
      b.client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 5 } }, undefined, {
        ...CALL,
        onprogress: (p) => progressB.push(p),
      }),
    ]);
    expect(textOf(ra)).toContain('Steps: 3');
    expect(textOf(rb)).toContain('Steps: 5');
    expect(progressA.map((p) => [p.progress, p.total])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(progressB.map((p) => [p.progress, p.total])).toEqual([
      [1, 5],
      [2, 5],
      [3, 5],
      [4, 5],
      [5, 5],
    ]);
  });
});
