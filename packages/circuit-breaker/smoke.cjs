module.exports = async function smoke(m) {
  if (typeof m !== 'object') throw new Error('no module');
};
