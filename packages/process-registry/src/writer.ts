import { type RegistryFile, writeRegistryFile } from './file.js';

/**
 * Writes of one registry file, one after another. A write that has not started yet is shared by
 * later callers: its snapshot is taken when it starts, so it carries their changes too.
 */
export class FileWriter {
  #chain: Promise<void> = Promise.resolve();
  #queued: Promise<void> | null = null;

  constructor(
    private readonly path: string,
    private readonly snapshot: () => RegistryFile,
  ) {}

  write(): Promise<void> {
    if (this.#queued) return this.#queued;
    const write = this.#chain.then(() => {
      this.#queued = null; // from here on, changes need a new write: this one's snapshot is taken now
      return writeRegistryFile(this.path, this.snapshot());
    });
    this.#queued = write;
    this.#chain = write.catch(() => {});
    return write;
  }
}
