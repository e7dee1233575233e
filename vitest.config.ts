import { defineConfig } from 'vitest/config';

/**
 * Projects: `unit` needs nothing but Node (no Docker, no tmux, no build); `e2e` drives the built CLI
 * against a real engine, and only it has the global setup that checks for one and warms the shared image;
 * with MOAT_SANDBOX=gvisor, `e2e-runc` runs the isolation and credential suites under runc as well.
 * `vitest run` runs them all; `--project unit` / `--project e2e` one of them.
 */

/** The isolation and credential suites, under runc (see the e2e project). */
const e2eRunc = {
  extends: true as const,
  test: {
    name: 'e2e-runc',
    include: ['test/e2e/hostile-*.test.ts', 'test/e2e/credentials*.test.ts'],
    exclude: [
      'test/e2e/hostile-build*.test.ts',
      'test/e2e/hostile-input.test.ts',
      'test/e2e/hostile-workspace-config.test.ts',
      'test/e2e/hostile-sensitive-workspace.test.ts',
    ],
    globalSetup: ['test/e2e/global-setup.ts'],
    env: { NO_COLOR: '1', MOAT_SANDBOX: 'runc' },
  },
};

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default'],
    // Output assertions read plain text; CI=true would otherwise turn colours on in non-TTY output.
    env: { NO_COLOR: '1' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      // The e2e suite runs under the sandbox MOAT_SANDBOX names (runc when unset, the quickest, and what CI
      // runs today; `npm run test:e2e:gvisor` runs it under gVisor); a test may name its own.
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          env: { NO_COLOR: '1', MOAT_SANDBOX: process.env.MOAT_SANDBOX ?? 'runc' },
        },
      },
      // The matrix: when the suite runs under gVisor, the isolation and credential suites run under runc as
      // well (the same files, a second project). Left out: suites whose runs never reach a container's kernel
      // (image builds run on the engine's default runtime either way; moat.yaml refusals and approvals).
      ...(process.env.MOAT_SANDBOX === 'gvisor' ? [e2eRunc] : []),
    ],
  },
});
