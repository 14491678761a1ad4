// Packaging smoke test: bind a real server, then lose a second bind to it.
const { createServer } = require('node:net');

module.exports = async function smoke(m) {
  const winner = createServer();
  const address = await m.bindOrDie(winner, { port: 0 });
  if (typeof address !== 'object' || address.address !== '127.0.0.1' || !(address.port > 0)) {
    throw new Error(`bindOrDie resolved with ${JSON.stringify(address)}`);
  }
  let lost = null;
  const error = await m
    .bindOrDie(createServer(), { port: address.port }, { onLost: (info) => (lost = info) })
    .catch((e) => e);
  winner.close();
  if (!(error instanceof m.LostBindError) || error.code !== 'ELOSTBIND')
    throw new Error(`expected LostBindError, got ${error}`);
  if (lost?.error.code !== 'EADDRINUSE') throw new Error('onLost was not called with the EADDRINUSE error');
};
