/**
 * taskkill arguments for one process. Without /F, taskkill asks politely (WM_CLOSE to the
 * process's windows); console and background processes have no window, so for them only /F
 * (TerminateProcess) works: Windows has no SIGTERM for them. We never pass /T: taskkill finds
 * children by ParentProcessId, which Windows never updates, so after a parent exits and its pid is
 * reused, /T would kill the new owner's "children" that are strangers. Each tree member is killed
 * by its own pid instead, after its start token was checked.
 */
export function taskkillArgs(pid: number, { force = false } = {}): string[] {
  return ['/PID', String(pid), ...(force ? ['/F'] : [])];
}

export const TASKKILL = 'taskkill.exe';
