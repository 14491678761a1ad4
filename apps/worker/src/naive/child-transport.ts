import type { ChildProcess } from 'node:child_process';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * An MCP client transport over a child that someone else spawned. The SDK's StdioClientTransport
 * spawns its own process, which would bypass the process registry (nobody would record the helper,
 * nobody would kill its tree). This one only speaks JSON-RPC lines over the child's stdin/stdout.
 */
export class ChildProcessTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: (<T extends JSONRPCMessage>(message: T) => void) | undefined;

  readonly #child: ChildProcess;
  readonly #buffer = new ReadBuffer();
  #started = false;
  #closed = false;

  constructor(child: ChildProcess) {
    if (!child.stdin || !child.stdout)
      throw new TypeError('child must be spawned with stdio pipes for stdin and stdout');
    this.#child = child;
  }

  async start(): Promise<void> {
    if (this.#started) throw new Error('ChildProcessTransport already started');
    this.#started = true;
    const { stdin, stdout } = this.#child;
    stdout!.on('data', (chunk: Buffer) => {
      this.#buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.#buffer.readMessage();
        } catch (error) {
          this.onerror?.(error as Error);
          continue;
        }
        if (message === null) break;
        this.onmessage?.(message);
      }
    });
    stdout!.on('error', (error) => this.onerror?.(error));
    stdin!.on('error', (error) => this.onerror?.(error));
    // 'close' fires once stdio is done, after 'exit': the connection is over either way.
    this.#child.once('close', () => this.#finish());
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) this.#finish();
  }

  send(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve, reject) => {
      const stdin = this.#child.stdin;
      if (this.#closed || !stdin || stdin.destroyed || !stdin.writable) {
        reject(new Error('helper connection is closed'));
        return;
      }
      stdin.write(serializeMessage(message), (error) => (error ? reject(error) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.#child.stdin?.end();
    this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#buffer.clear();
    this.onclose?.();
  }
}
