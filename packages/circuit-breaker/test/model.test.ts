/**
 * Model-based test: random interleavings of overlapping calls (each a deferred promise the test
 * resolves, rejects with a failure, or rejects with an error isFailure() ignores), aborts, clock
 * moves, reset(), isolate() and dispose() are applied to the real breaker and to a small reference
 * model written straight from the spec. After every step: the state, failure count, cooldown and
 * probes in flight match the model; at most halfOpenMaxConcurrent probes of the current half-open
 * period are in flight; an open circuit never called fn; every caller got what the model says;
 * and the stateChange events form one unbroken chain ending in the current state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, CircuitBreaker, type CircuitState } from '../src/index.js';
import { type Deferred, deferred, fakeClock, settle, T0 } from './helpers.js';

interface Options {
  failureThreshold: number;
  cooldownMs: number;
  halfOpenMaxConcurrent: number;
  cooldownGrowth: number;
  maxCooldownMs: number;
}

class Ignored extends Error {}

/** The reference: the spec, written as plainly as possible. */
class Model {
  now = T0;
  stored: 'closed' | 'open' = 'closed';
  failures = 0;
  openedAt = 0;
  cooldown: number;
  generation = 0;
  probes = 0;
  leaseUntil: number | null = null;
  isolations: Array<{ active: boolean }> = [];
  calls: ModelCall[] = [];

  constructor(readonly o: Options) {
    this.cooldown = o.cooldownMs;
  }

  get isolated() {
    return this.isolations.some((i) => i.active);
  }

  state(): CircuitState {
    if (this.isolated) return 'open';
    if (this.stored === 'closed') return 'closed';
    return this.now >= this.openedAt + this.cooldown ? 'halfOpen' : 'open';
  }

  newGeneration() {
    this.generation++;
    this.probes = 0;
    this.leaseUntil = null;
  }

  open(cooldown: number) {
    this.stored = 'open';
    this.openedAt = this.now;
    this.cooldown = cooldown;
    this.newGeneration();
  }

  close() {
    this.stored = 'closed';
    this.failures = 0;
    this.cooldown = this.o.cooldownMs;
    this.newGeneration();
  }

  leaseLeft() {
    return this.leaseUntil !== null && this.leaseUntil > this.now ? this.leaseUntil - this.now : 0;
  }
}

interface ModelCall {
  generation: number;
  probe: boolean;
  running: boolean;
  aborted: boolean;
}

interface RealCall {
  work: Deferred<unknown>;
  controller: AbortController | undefined;
  result: { done: boolean; value?: unknown; error?: unknown };
}

class Real {
  clock = fakeClock();
  breaker: CircuitBreaker;
  fnCalls = 0;
  calls: RealCall[] = [];
  handles: Array<{ dispose(): void }> = [];
  changes: Array<{ from: CircuitState; to: CircuitState }> = [];

  constructor(o: Options) {
    this.breaker = new CircuitBreaker({ ...o, now: this.clock.now, isFailure: (e) => !(e instanceof Ignored) });
    this.breaker.events.on('stateChange', ({ from, to }) => this.changes.push({ from, to }));
  }
}

async function checkInvariants(m: Model, r: Real) {
  await settle();
  const json = r.breaker.toJSON();
  expect(json.state).toBe(m.state());
  expect(json.failures).toBe(m.failures);
  expect(json.cooldownMs).toBe(m.cooldown);
  expect(json.halfOpenInFlight).toBe(m.probes);
  const probesRunning = m.calls.filter((c) => c.running && c.probe && c.generation === m.generation).length;
  expect(probesRunning).toBe(m.probes);
  expect(probesRunning).toBeLessThanOrEqual(m.o.halfOpenMaxConcurrent);
  // stateChange events chain from 'closed' to the current state with no gap.
  let at: CircuitState = 'closed';
  for (const change of r.changes) {
    expect(change.from).toBe(at);
    expect(change.to).not.toBe(change.from);
    at = change.to;
  }
  expect(at).toBe(m.state());
}

type Command = fc.AsyncCommand<Model, Real>;

class StartCall implements Command {
  constructor(readonly signal: 'none' | 'signal' | 'preAborted') {}
  check = () => true;
  async run(m: Model, r: Real) {
    const work = deferred<unknown>();
    const controller = this.signal === 'none' ? undefined : new AbortController();
    const reason = new Error('aborted before start');
    if (this.signal === 'preAborted') controller?.abort(reason);
    const fnCallsBefore = r.fnCalls;
    const result: RealCall['result'] = { done: false };
    r.breaker
      .execute(
        () => {
          r.fnCalls++;
          return work.promise;
        },
        { signal: controller?.signal },
      )
      .then(
        (value) => Object.assign(result, { done: true, value }),
        (error) => Object.assign(result, { done: true, error }),
      );
    const state = m.state();
    const admitted =
      this.signal !== 'preAborted' &&
      (state === 'closed' || (state === 'halfOpen' && m.probes < m.o.halfOpenMaxConcurrent && !m.isolated));
    // fn runs synchronously inside execute(), or never.
    expect(r.fnCalls - fnCallsBefore).toBe(admitted ? 1 : 0);
    await settle();
    if (this.signal === 'preAborted') {
      expect(result.error).toBe(reason);
      return;
    }
    if (!admitted) {
      const error = result.error as BrokenCircuitError;
      expect(error).toBeInstanceOf(BrokenCircuitError);
      expect(error.state).toBe(state);
      if (m.isolated) expect(error.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
      else if (state === 'open') expect(error.retryAfterMs).toBe(m.openedAt + m.cooldown - m.now);
      else expect(error.retryAfterMs).toBe(m.leaseLeft());
      return;
    }
    expect(result.done).toBe(false);
    const probe = state === 'halfOpen';
    if (probe) {
      m.probes++;
      m.leaseUntil = m.now + m.cooldown;
    }
    m.calls.push({ generation: m.generation, probe, running: true, aborted: false });
    r.calls.push({ work, controller, result });
  }
  toString() {
    return `start(${this.signal})`;
  }
}

const running = (m: Model) => m.calls.map((c, i) => (c.running ? i : -1)).filter((i) => i >= 0);

class FinishCall implements Command {
  constructor(
    readonly pick: number,
    readonly how: 'resolve' | 'fail' | 'ignored',
  ) {}
  check = (m: Readonly<Model>) => running(m as Model).length > 0;
  async run(m: Model, r: Real) {
    const ids = running(m);
    const index = ids[this.pick % ids.length]!;
    const call = m.calls[index]!;
    const real = r.calls[index]!;
    const error = this.how === 'fail' ? new Error('failure') : new Ignored('ignored');
    if (this.how === 'resolve') real.work.resolve(`value ${index}`);
    else real.work.reject(error);
    await settle();

    call.running = false;
    if (call.probe && call.generation === m.generation) m.probes--;
    const current = call.generation === m.generation;
    if (call.aborted || this.how === 'ignored') {
      // Nothing. A probe without a verdict hands its lease back once no probe of ours runs.
      if (call.probe && current && m.probes === 0) m.leaseUntil = null;
    } else if (this.how === 'resolve') {
      if (current && call.probe) m.close();
      else if (current) m.failures = 0;
    } else if (current) {
      m.failures++;
      if (call.probe) m.open(Math.max(m.cooldown, Math.min(m.cooldown * m.o.cooldownGrowth, m.o.maxCooldownMs)));
      else if (m.failures >= m.o.failureThreshold) m.open(m.o.cooldownMs);
    }
    if (call.aborted) return; // the caller already got the abort reason
    expect(real.result.done).toBe(true);
    if (this.how === 'resolve') expect(real.result.value).toBe(`value ${index}`);
    else expect(real.result.error).toBe(error);
  }
  toString() {
    return `finish(${this.pick}, ${this.how})`;
  }
}

class AbortCall implements Command {
  constructor(readonly pick: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    const ids = running(m).filter((i) => r.calls[i]!.controller !== undefined && !m.calls[i]!.aborted);
    if (ids.length === 0) return;
    const index = ids[this.pick % ids.length]!;
    const reason = new Error(`abort ${index}`);
    r.calls[index]!.controller!.abort(reason);
    await settle();
    m.calls[index]!.aborted = true;
    expect(r.calls[index]!.result.error).toBe(reason);
  }
  toString() {
    return `abort(${this.pick})`;
  }
}

class Tick implements Command {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(m: Model, r: Real) {
    m.now += this.ms;
    r.clock.advance(this.ms);
  }
  toString() {
    return `tick(${this.ms})`;
  }
}

class Reset implements Command {
  check = () => true;
  async run(m: Model, r: Real) {
    r.breaker.reset();
    for (const isolation of m.isolations) isolation.active = false;
    m.close();
  }
  toString() {
    return 'reset()';
  }
}

class Isolate implements Command {
  check = () => true;
  async run(m: Model, r: Real) {
    r.handles.push(r.breaker.isolate());
    m.isolations.push({ active: true });
  }
  toString() {
    return 'isolate()';
  }
}

class Dispose implements Command {
  constructor(readonly pick: number) {}
  check = (m: Readonly<Model>) => m.isolations.length > 0;
  async run(m: Model, r: Real) {
    const index = this.pick % m.isolations.length;
    r.handles[index]!.dispose();
    m.isolations[index]!.active = false;
  }
  toString() {
    return `dispose(${this.pick})`;
  }
}

/** Runs the command, then checks every invariant against the model. */
class Checked implements Command {
  constructor(readonly inner: Command) {}
  check = (m: Readonly<Model>) => this.inner.check(m) as boolean;
  async run(m: Model, r: Real) {
    await this.inner.run(m, r);
    await checkInvariants(m, r);
  }
  toString() {
    return this.inner.toString();
  }
}

const optionsArb: fc.Arbitrary<Options> = fc
  .record({
    failureThreshold: fc.integer({ min: 1, max: 3 }),
    cooldownMs: fc.integer({ min: 0, max: 600 }),
    halfOpenMaxConcurrent: fc.integer({ min: 1, max: 3 }),
    cooldownGrowth: fc.constantFrom(1, 1.5, 2, 3),
    capFactor: fc.integer({ min: 1, max: 8 }),
  })
  .map(({ capFactor, ...o }) => ({ ...o, maxCooldownMs: o.cooldownMs * capFactor }));

const commandsArb = fc.commands(
  [
    fc.constantFrom('none', 'signal', 'preAborted').map((s) => new Checked(new StartCall(s as 'none'))),
    fc.constantFrom('none', 'signal').map((s) => new Checked(new StartCall(s as 'none'))),
    fc
      .tuple(fc.nat(), fc.constantFrom('resolve', 'fail', 'fail', 'ignored'))
      .map(([pick, how]) => new Checked(new FinishCall(pick, how as 'fail'))),
    fc
      .tuple(fc.nat(), fc.constantFrom('resolve', 'fail'))
      .map(([pick, how]) => new Checked(new FinishCall(pick, how as 'fail'))),
    fc.nat().map((pick) => new Checked(new AbortCall(pick))),
    fc.integer({ min: 0, max: 1_500 }).map((ms) => new Checked(new Tick(ms))),
    fc.integer({ min: 0, max: 400 }).map((ms) => new Checked(new Tick(ms))),
    // Rarer on purpose: an isolation hides everything else until it is disposed.
    fc.oneof(
      fc.constant(new Checked(new Reset())),
      fc.constant(new Checked(new Isolate())),
      fc.nat().map((pick) => new Checked(new Dispose(pick))),
      fc.nat().map((pick) => new Checked(new Dispose(pick))),
    ),
  ],
  { maxCommands: 80, size: 'large' },
);

describe('model-based: the breaker matches a reference model over random interleavings', () => {
  it('holds for random options and command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(optionsArb, commandsArb, async (options, commands) => {
        await fc.asyncModelRun(() => ({ model: new Model(options), real: new Real(options) }), commands);
      }),
      { numRuns: 300 },
    );
  }, 120_000);

  it('reaches every state and verdict often enough to mean something', async () => {
    // Guards the generators: if they stopped producing probes or opens, the property above would
    // pass vacuously.
    const seen = { open: 0, halfOpen: 0, probeVerdicts: 0, staleResults: 0, rejections: 0, busy: 0 };
    await fc.assert(
      fc.asyncProperty(optionsArb, commandsArb, async (options, commands) => {
        const real = new Real(options);
        real.breaker.events.on('open', () => seen.open++);
        real.breaker.events.on('halfOpen', () => seen.halfOpen++);
        real.breaker.events.on('rejected', ({ error }) => {
          seen.rejections++;
          if (error.state === 'halfOpen') seen.busy++;
        });
        const onResult = (e: { probe: boolean; counted: boolean }) => {
          if (e.probe && e.counted) seen.probeVerdicts++;
          if (!e.counted) seen.staleResults++;
        };
        real.breaker.events.on('success', onResult);
        real.breaker.events.on('failure', onResult);
        await fc.asyncModelRun(() => ({ model: new Model(options), real }), commands);
      }),
      { numRuns: 200 },
    );
    expect(seen.open).toBeGreaterThan(20);
    expect(seen.halfOpen).toBeGreaterThan(20);
    expect(seen.probeVerdicts).toBeGreaterThan(10);
    expect(seen.staleResults).toBeGreaterThan(5);
    expect(seen.rejections).toBeGreaterThan(20);
    expect(seen.busy).toBeGreaterThan(3);
  }, 120_000);
});
