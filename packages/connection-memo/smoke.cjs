// Packed-package smoke test: one connect for concurrent callers, close before reconnect, final close.
module.exports = async function smoke(m) {
  const log = [];
  let n = 0;
  const memo = m.memoizeConnection({
    connect: async () => {
      log.push(`connect:${++n}`);
      return { id: n };
    },
    close: async (conn) => {
      log.push(`close:${conn.id}`);
    },
  });
  const all = await Promise.all([memo.get(), memo.get(), memo.get()]);
  if (n !== 1 || all[0] !== all[2] || all[0].id !== 1) throw new Error(`single flight broken: ${log}`);
  await memo.reset();
  const next = await memo.get();
  if (next.id !== 2 || log.join(',') !== 'connect:1,close:1,connect:2') throw new Error(`reset order wrong: ${log}`);
  await memo.close();
  const error = await memo.get().then(
    () => null,
    (e) => e,
  );
  if (!(error instanceof m.MemoClosedError) || error.code !== 'EMEMOCLOSED') throw new Error('close() is not final');
  if (log.join(',') !== 'connect:1,close:1,connect:2,close:2') throw new Error(`close order wrong: ${log}`);
};
