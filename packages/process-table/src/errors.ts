/** The listing (or one ps/PowerShell call) did not finish in time; any child it used was killed and reaped. */
export class ProcessListTimeoutError extends Error {
  readonly code = 'EPROCLISTTIMEOUT' as const;
  readonly timeoutMs: number;

  constructor(timeoutMs: number, what = 'process listing') {
    super(
      `${what} did not finish within ${timeoutMs} ms; any ps/PowerShell child was killed. ` +
        'Raise timeoutMs if the machine is very loaded.',
    );
    this.name = 'ProcessListTimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/** ps/PowerShell failed or printed something we could not read. */
export class ProcessListError extends Error {
  readonly code = 'EPROCLIST' as const;
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(message: string, fields: { command: string; exitCode?: number | null; stderr?: string }) {
    super(message);
    this.name = 'ProcessListError';
    this.command = fields.command;
    this.exitCode = fields.exitCode ?? null;
    this.stderr = fields.stderr ?? '';
  }
}
