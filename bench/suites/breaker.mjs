// Circuit breaker overhead: execute() on a resolved no-op in the closed state, and rejection
// while open, against opossum (defaults, timeout off) and cockatiel, as added cost over the bare call.
export const title = 'circuit-breaker: execute() overhead and rejection while open';

const noop = () => Promise.resolve(1);
const swallow = () => {};

export const cases = [
  { id: 'bare', label: 'bare call (await fn())', setup: async () => ({ fn: async () => await noop() }) },
  {
    id: 'spawnguard',
    label: '@spawnguard/circuit-breaker execute',
    setup: async () => {
      const { CircuitBreaker } = await import('@spawnguard/circuit-breaker');
      const b = new CircuitBreaker();
      return { fn: async () => await b.execute(noop) };
    },
  },
  {
    id: 'cockatiel',
    label: 'cockatiel circuitBreaker execute',
    setup: async () => {
      const { circuitBreaker, handleAll, ConsecutiveBreaker } = await import('cockatiel');
      const p = circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(3) });
      return { fn: async () => await p.execute(noop) };
    },
  },
  {
    id: 'opossum',
    label: 'opossum fire (timeout off)',
    setup: async () => {
      const { default: Opossum } = await import('opossum');
      const b = new Opossum(noop, { timeout: false });
      return { fn: async () => await b.fire(), teardown: () => b.shutdown() };
    },
  },
  {
    id: 'spawnguard-open',
    label: '@spawnguard/circuit-breaker reject (open)',
    setup: async () => {
      const { CircuitBreaker } = await import('@spawnguard/circuit-breaker');
      const b = new CircuitBreaker();
      b.isolate();
      return { fn: async () => await b.execute(noop).catch(swallow) };
    },
  },
  {
    id: 'cockatiel-open',
    label: 'cockatiel reject (open)',
    setup: async () => {
      const { circuitBreaker, handleAll, ConsecutiveBreaker } = await import('cockatiel');
      const p = circuitBreaker(handleAll, { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(3) });
      p.isolate();
      return { fn: async () => await p.execute(noop).catch(swallow) };
    },
  },
  {
    id: 'opossum-open',
    label: 'opossum reject (open)',
    setup: async () => {
      const { default: Opossum } = await import('opossum');
      const b = new Opossum(noop, { timeout: false });
      b.open();
      return { fn: async () => await b.fire().catch(swallow), teardown: () => b.shutdown() };
    },
  },
];

export function targets(r) {
  const added = (id) => r[id].p50 - r.bare.p50;
  const ours = added('spawnguard');
  const cock = added('cockatiel');
  return [
    {
      text: `added cost over the bare call ${ours.toFixed(1)} ns < 100 ns (opossum adds ${added('opossum').toFixed(0)} ns)`,
      pass: ours < 100,
      value: ours,
    },
    {
      text: `added cost ${ours.toFixed(1)} ns <= 0.5x cockatiel's ${cock.toFixed(1)} ns (ratio ${(ours / cock).toFixed(2)})`,
      pass: ours <= 0.5 * cock,
      value: ours / cock,
    },
    {
      text: `rejection while open ${r['spawnguard-open'].p50.toFixed(1)} ns <= 1/3 of cockatiel's ${r['cockatiel-open'].p50.toFixed(1)} ns (ratio ${(r['spawnguard-open'].p50 / r['cockatiel-open'].p50).toFixed(2)}; opossum ${r['opossum-open'].p50.toFixed(0)} ns)`,
      pass: r['spawnguard-open'].p50 <= r['cockatiel-open'].p50 / 3,
      value: r['spawnguard-open'].p50 / r['cockatiel-open'].p50,
    },
  ];
}
