/**
 * Global setup of the end-to-end tests: a reachable Docker engine, tmux and a built CLI are required (an
 * unreachable engine is a failure, never a skip), and the shared content-addressed image is warmed once
 * so no test file builds its own.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { DIST_MAIN, cleanupHome, moat, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

export default async function setup(): Promise<void> {
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 30_000 });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim().split('\n')[0] ?? (err as Error).message;
    throw new Error(`No Docker engine is reachable: run \`bash scripts/setup.sh\` (or \`sudo systemctl start docker\`). (${detail})`);
  }
  try {
    await execFileP('tmux', ['-V'], { timeout: 10_000 });
  } catch {
    throw new Error(
      'tmux is not installed; the interactive tests drive a real terminal with it: run `bash scripts/setup.sh` as root (or `sudo apt-get install -y tmux`).',
    );
  }
  if (!existsSync(DIST_MAIN)) {
    throw new Error(`The CLI is not built (${DIST_MAIN} is missing): run \`npm run build\`.`);
  }
  // Warm the shared image once, with a throwaway home.
  const home = await tempDir('warm-home');
  const ws = await tempDir('warm-ws');
  try {
    const r = await moat(['run', '--', 'true'], { home, cwd: ws, timeoutMs: 600_000 });
    if (r.code !== 0) {
      throw new Error(`Warming the moat image failed (moat run -- true exited ${String(r.code)}):\n${r.stderr}`);
    }
  } finally {
    await cleanupHome(home, ws);
    await rm(ws, { recursive: true, force: true });
  }
}
