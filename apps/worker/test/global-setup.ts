import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  execFileSync(join(root, '..', '..', 'node_modules', '.bin', 'tsup'), { cwd: root, stdio: 'pipe' });
}
