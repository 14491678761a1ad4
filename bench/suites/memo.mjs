// Cached get(): the hot path of every search once the helper connection exists.
export const title = 'connection-memo: cached get() against p-memoize and a bare awaited promise';

export const cases = [
  {
    id: 'bare',
    label: 'bare awaited promise',
    setup: async () => {
      const conn = Promise.resolve({ id: 1 });
      return { fn: async () => await conn };
    },
  },
  {
    id: 'spawnguard',
    label: '@spawnguard/connection-memo get()',
    setup: async () => {
      const { memoizeConnection } = await import('@spawnguard/connection-memo');
      const memo = memoizeConnection({ connect: async () => ({ id: 1 }), close: () => {} });
      await memo.get();
      return { fn: async () => await memo.get(), teardown: () => memo.close() };
    },
  },
  {
    id: 'p-memoize',
    label: 'p-memoize cached call',
    setup: async () => {
      const { default: pMemoize } = await import('p-memoize');
      const get = pMemoize(async () => ({ id: 1 }));
      await get();
      return { fn: async () => await get() };
    },
  },
];

export function targets(r) {
  const ratio = r.spawnguard.p50 / r['p-memoize'].p50;
  return [
    {
      text: `cached get() ${r.spawnguard.p50.toFixed(1)} ns <= 0.4x p-memoize's ${r['p-memoize'].p50.toFixed(1)} ns (ratio ${ratio.toFixed(2)}; bare ${r.bare.p50.toFixed(1)} ns)`,
      pass: ratio <= 0.4,
      value: ratio,
    },
  ];
}
