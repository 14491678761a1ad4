export async function start(_c: unknown): Promise<number> {
  return 1;
}
export async function stop(_c: unknown): Promise<number> {
  return 1;
}
export async function restart(_c: unknown): Promise<number> {
  return 1;
}
export async function status(_c: unknown, _j: boolean): Promise<number> {
  return 1;
}
