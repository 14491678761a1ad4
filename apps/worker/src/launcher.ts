export async function ensureWorker(_c: unknown, _o: unknown): Promise<{ ok: boolean; via: string; message?: string }> {
  return { ok: false, via: 'todo', message: 'todo' };
}
