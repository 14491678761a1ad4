import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  if (process.env.SPAWNGUARD_SKIP_BUILD === '1') return;
  const root = join(import.meta.dirname, '..');
  execFileSync(join(root, '..', '..', 'node_modules', '.bin', 'tsup'), { cwd: root, stdio: 'pipe' });
}
