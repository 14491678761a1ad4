// Packaging smoke test: the packed package lists this very process, with its identity.
module.exports = async function smoke(m) {
  const list = await m.listProcesses({ timeoutMs: 10000 });
  const self = list.find((p) => p.pid === process.pid);
  if (!self)
    throw new Error(`listProcesses() did not include this process (${process.pid}); got ${list.length} entries`);
  if (self.ppid !== process.ppid) throw new Error(`ppid ${self.ppid}, expected ${process.ppid}`);
  if (typeof self.startToken !== 'string' || self.startToken === '') throw new Error('empty startToken');
  if (!(await m.isSameProcess(self))) throw new Error('isSameProcess(self) returned false');
  if (m.parseWindowsCommandLine('prog "a b" c').join('|') !== 'prog|a b|c') throw new Error('parseWindowsCommandLine');
};
