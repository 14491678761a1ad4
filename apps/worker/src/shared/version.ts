import pkg from '../../package.json' with { type: 'json' };

/** Inlined at build time by the bundler: reading package.json at run time would cost the hook a file read. */
export const VERSION: string = pkg.version;
