export * from './state-file.js';
