export * from './async.js';
export * from './check.js';
export * from './listeners.js';
export * from './private-dir.js';
export * from './process.js';
export * from './show.js';
export * from './state-file.js';
