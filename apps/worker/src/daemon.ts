export async function runDaemon(_c: unknown): Promise<number> {
  return 1;
}
