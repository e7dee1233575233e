/**
 * Global setup of each end-to-end project: its engine reachable (Docker, or Podman for e2e-podman), tmux
 * and a built CLI (a missing one is a failure, never a skip), and the shared content-addressed images
 * warmed on that engine so no test file builds its own: the bare image and the one of the gateway and
 * credential suites' dependency list. Projects on the same engine warm it once.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { DEPENDENCIES, makeWorkspace } from './fixtures/gateway-kit.js';
import { DIST_MAIN, cleanupHome, moat, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

/** Engines (by DOCKER_HOST) already warmed by an earlier project of this vitest run. */
const warmed: Set<string> = ((globalThis as { __moatE2eWarmed?: Set<string> }).__moatE2eWarmed ??= new Set());

export default async function setup(project: TestProject): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...project.config.env };
  const podman = env.MOAT_E2E_ENGINE === 'podman';
  try {
    await execFileP('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 30_000, env });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim().split('\n')[0] ?? (err as Error).message;
    throw new Error(
      podman
        ? `Podman's API socket (${env.DOCKER_HOST ?? ''}) does not answer: run \`sudo bash scripts/setup.sh\`. (${detail})`
        : `No Docker engine is reachable: run \`bash scripts/setup.sh\` (or \`sudo systemctl start docker\`). (${detail})`,
    );
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
  const engine = env.DOCKER_HOST || 'default';
  if (warmed.has(engine)) return;
  // Warm the shared images once per engine, with a throwaway home.
  const home = await tempDir('warm-home');
  const ws = await tempDir('warm-ws');
  try {
    const deps = await makeWorkspace(ws, 'deps');
    for (const [cwd, what] of [
      [ws, 'the moat image'],
      [deps, `the image of ${DEPENDENCIES.trim()}`],
    ] as const) {
      const r = await moat(['run', '--approve-config', '--', 'true'], { home, cwd, env: project.config.env, timeoutMs: 900_000 });
      if (r.code !== 0) throw new Error(`Warming ${what} failed (moat run -- true exited ${String(r.code)}):\n${r.stderr}`);
    }
    warmed.add(engine);
  } finally {
    await cleanupHome(home, ws);
    await rm(ws, { recursive: true, force: true });
  }
}
