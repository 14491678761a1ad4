import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../test-kit/processes.js';
import { recorded, recorder, type TestClient } from './helpers.js';
import { useWorld } from './setup.js';

const world = useWorld();

/** How long a closed call may take to be answered: far below the SDK client's own 60 s timeout. */
const BOUND_MS = 15_000;

/** What the SDK client rejects with: an McpError (code, message, data). */
type RpcError = { code?: number; message: string; data?: Record<string, unknown> };
type Outcome =
  | { settled: 'resolved'; value: unknown }
  | { settled: 'rejected'; error: RpcError }
  | { settled: 'pending' };

/** The error `outcome` rejected with; fails the test when it did not reject. */
function rejection(outcome: Outcome): RpcError {
  expect(outcome.settled).toBe('rejected');
  return (outcome as { error: RpcError }).error;
}

/** Waits for `promise`, at most `ms`: what it did by then. */
function within(promise: Promise<unknown>, ms: number): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ settled: 'pending' }), ms);
  });
  return Promise.race([
    promise.then(
      (value): Outcome => ({ settled: 'resolved', value }),
      (error: RpcError): Outcome => ({ settled: 'rejected', error }),
    ),
    bound,
  ]).finally(() => clearTimeout(timer));
}

/** A call that runs for longer than any bound here (the backend's `slow` tool), as the SDK client makes it (default timeout). */
function longCall(client: TestClient, tag: string): Promise<unknown> {
  const call = client.client.callTool({ name: 'slow', arguments: { ms: 50_000, tag } });
  call.catch(() => {}); // a test that fails leaves it to afterEach, which closes the client
  return call;
}

const atBackend = (file: string, tag: string) =>
  waitFor(() => recorded(file).find((m) => m.method === 'tools/call' && m.params?.arguments?.tag === tag), {
    what: `${tag} at the backend`,
    timeoutMs: 15_000,
  });

describe('a session that goes answers its requests in flight at once, naming why', () => {
  it('closeSession: the call in flight rejects promptly with ESESSIONCLOSED; the backend gets the cancellation', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file) } });
    const a = await w.connect('rec');
    const call = longCall(a, 'A1');
    const sent = await atBackend(file, 'A1');
    expect(w.host.closeSession(a.transport.sessionId!)).toBe(true);
    const outcome = await within(call, BOUND_MS);
    const error = rejection(outcome);
    expect(error.code).toBe(-32000);
    expect(error.data).toMatchObject({ code: 'ESESSIONCLOSED', server: 'rec', reason: 'closed' });
    expect(error.message).toMatch(/closed/);
    await waitFor(
      () => recorded(file).some((m) => m.method === 'notifications/cancelled' && m.params?.requestId === sent.id),
      { what: 'the cancellation at the backend' },
    );
  });

  it('reconfigure of its server: the call in flight rejects promptly with reason "reconfigured"', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file) } });
    const a = await w.connect('rec');
    const call = longCall(a, 'A1');
    await atBackend(file, 'A1');
    const result = await w.host.reconfigure({ rec: recorder(world.get().marker, file, ['--noise']) });
    expect(result.changed).toEqual(['rec']);
    const outcome = await within(call, BOUND_MS);
    const error = rejection(outcome);
    expect(error.code).toBe(-32000);
    expect(error.data).toMatchObject({ code: 'ESESSIONCLOSED', server: 'rec', reason: 'reconfigured' });
    expect(error.message).toMatch(/reconfigured/);
  });

  it('host.close: the call in flight rejects promptly with reason "host-closed"', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file) } });
    const a = await w.connect('rec');
    const call = longCall(a, 'A1');
    await atBackend(file, 'A1');
    const closing = w.host.close();
    const outcome = await within(call, BOUND_MS);
    await closing;
    const error = rejection(outcome);
    expect(error.data).toMatchObject({ code: 'ESESSIONCLOSED', server: 'rec', reason: 'host-closed' });
  });

  it('serialize: a call still queued behind another session rejects promptly when its session is closed', async () => {
    const file = join(world.get().dir, 'r.jsonl');
    const w = await world.start({ servers: { rec: recorder(world.get().marker, file, [], { serialize: true }) } });
    const a = await w.connect('rec');
    const b = await w.connect('rec');
    longCall(a, 'A1');
    await atBackend(file, 'A1');
    const callB = longCall(b, 'B1'); // waits for the gate A holds
    await waitFor(() => w.host.stats()[0]!.queued === 1, { what: "B's call queued" });
    expect(w.host.closeSession(b.transport.sessionId!)).toBe(true);
    const outcome = await within(callB, BOUND_MS);
    expect(rejection(outcome).data).toMatchObject({ code: 'ESESSIONCLOSED', reason: 'closed' });
    expect(recorded(file).some((m) => m.params?.arguments?.tag === 'B1')).toBe(false);
    expect(w.host.stats()[0]!.inFlight).toBe(1); // A's call is untouched
  });
});
