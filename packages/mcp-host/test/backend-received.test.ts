import { join } from 'node:path';
import type { LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { recorded, recorder } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

async function recording(flags: string[] = []) {
  const file = join(world.get().dir, 'received.jsonl');
  const w = await world.start({ servers: { rec: recorder(world.get().marker, file, flags) } });
  return { w, file, received: () => recorded(file) };
}

describe('what the backend receives', () => {
  it('cancellation is translated to the backend id; a session that goes away has its requests cancelled', async () => {
    const { w, received } = await recording();
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    const controller = new AbortController();
    const call = a.client.callTool({ name: 'slow', arguments: { ms: 20_000, tag: 'a' } }, undefined, {
      signal: controller.signal,
    });
    const callB = b.client.callTool({ name: 'slow', arguments: { ms: 20_000, tag: 'b' } }).catch((e: Error) => e);
    const sent = await waitFor(
      () => {
        const calls = received().filter((m) => m.method === 'tools/call');
        return calls.length === 2 ? calls : null;
      },
      { what: 'both calls at the backend' },
    );
    const idOf = (tag: string) => sent.find((m) => m.params.arguments.tag === tag)!.id;
    expect(idOf('a')).not.toBe(idOf('b')); // both clients used the same id; the backend saw two
    controller.abort(new Error('user gave up'));
    await expect(call).rejects.toThrow();
    const cancelA = await waitFor(() => received().find((m) => m.method === 'notifications/cancelled'), {
      what: 'cancel of a',
    });
    expect(cancelA.params.requestId).toBe(idOf('a'));
    await b.close();
    const cancels = await waitFor(
      () => {
        const found = received().filter((m) => m.method === 'notifications/cancelled');
        return found.length === 2 ? found : null;
      },
      { what: 'cancel of b after its session closed' },
    );
    expect(cancels[1]!.params).toMatchObject({ requestId: idOf('b'), reason: 'session closed' });
    await callB;
    // The session still works after cancelling.
    expect(await a.client.callTool({ name: 'echo', arguments: { text: 'still here' } })).toMatchObject({
      content: [{ type: 'text', text: 'still here' }],
    });
  });

  it('subscriptions are counted across sessions; updates reach only subscribers', async () => {
    const { w, received } = await recording();
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    const c = await w.connect('rec');
    const updates: Record<string, string[]> = { a: [], b: [], c: [] };
    for (const [name, client] of Object.entries({ a, b, c })) {
      client.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
        updates[name]!.push(n.params.uri);
      });
    }
    const subs = () => received().filter((m) => m.method?.startsWith('resources/'));
    await a.client.subscribeResource({ uri: 'rec://a' });
    await b.client.subscribeResource({ uri: 'rec://a' });
    await a.client.subscribeResource({ uri: 'rec://a' }); // twice from one session counts once
    expect(subs().map((m) => [m.method, m.params.uri])).toEqual([['resources/subscribe', 'rec://a']]);
    await c.client.callTool({ name: 'update', arguments: { uri: 'rec://a' } });
    await waitFor(() => updates.a!.length === 1 && updates.b!.length === 1, { what: 'updates for a and b' });
    await a.client.unsubscribeResource({ uri: 'rec://a' });
    expect(subs()).toHaveLength(1); // b still subscribes
    await c.client.callTool({ name: 'update', arguments: { uri: 'rec://a' } });
    await waitFor(() => updates.b!.length === 2, { what: 'second update for b' });
    await b.client.unsubscribeResource({ uri: 'rec://a' });
    expect(subs().map((m) => [m.method, m.params.uri])).toEqual([
      ['resources/subscribe', 'rec://a'],
      ['resources/unsubscribe', 'rec://a'],
    ]);
    // a session that closes while subscribed releases its subscription
    await c.client.subscribeResource({ uri: 'rec://b' });
    await c.close();
    await waitFor(() => subs().length === 4, { what: 'unsubscribe after close' });
    expect(
      subs()
        .slice(2)
        .map((m) => [m.method, m.params.uri]),
    ).toEqual([
      ['resources/subscribe', 'rec://b'],
      ['resources/unsubscribe', 'rec://b'],
    ]);
    expect(updates).toEqual({ a: ['rec://a'], b: ['rec://a', 'rec://a'], c: [] });
  });

  it('log levels per session: the backend gets the most verbose; each session only its level and above', async () => {
    const { w, received } = await recording();
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    const got: Record<string, string[]> = { a: [], b: [] };
    const listen = (name: string) => (n: LoggingMessageNotification) => {
      got[name]!.push(`${n.params.level}:${n.params.data}`);
    };
    a.client.setNotificationHandler(LoggingMessageNotificationSchema, listen('a'));
    b.client.setNotificationHandler(LoggingMessageNotificationSchema, listen('b'));
    const levels = () =>
      received()
        .filter((m) => m.method === 'logging/setLevel')
        .map((m) => m.params.level);
    // b has not set a level yet, so it still wants everything: the backend goes to debug, not error.
    await a.client.setLoggingLevel('error');
    expect(levels()).toEqual(['debug']);
    await b.client.setLoggingLevel('info');
    expect(levels()).toEqual(['debug', 'info']);
    await a.client.setLoggingLevel('critical'); // b's info is still the most verbose: nothing new for the backend
    expect(levels()).toEqual(['debug', 'info']);
    for (const level of ['debug', 'warning', 'error', 'alert']) {
      await a.client.callTool({ name: 'log', arguments: { level, text: level } });
    }
    await waitFor(() => got.b!.length === 3 && got.a!.length === 1, { what: 'log messages' });
    expect(got).toEqual({ a: ['alert:alert'], b: ['warning:warning', 'error:error', 'alert:alert'] });
    await b.close();
    await waitFor(() => levels().length === 3, { what: 'level after b left' });
    expect(levels()).toEqual(['debug', 'info', 'critical']);
  });

  it('list_changed reaches every session; non-JSON stdout lines go to the output event', async () => {
    const file = join(world.get().dir, 'received.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file, ['--noise']) } });
    const output: string[] = [];
    w.host.events.on('output', (o) => output.push(`${o.stream}:${o.line}`));
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    let changedA = 0;
    let changedB = 0;
    a.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changedA++;
    });
    b.client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changedB++;
    });
    await a.client.callTool({ name: 'changed', arguments: {} });
    await waitFor(() => changedA === 1 && changedB === 1, { what: 'list_changed on both' });
    expect(output).toContain('stdout:Loading embeddings model...');
    expect(output).toContain('stdout:ready on stdio');
    expect(output.some((line) => line.startsWith('stderr:recorder ready'))).toBe(true);
    // Requests to the backend carry the host's ids, never two in flight with the same one.
    const ids = recorded(file)
      .filter((m) => m.id !== undefined)
      .map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
