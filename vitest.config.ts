import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` needs nothing but Node (no Docker, no tmux, no build); `e2e` drives the built CLI
 * against a real engine, and only it has the global setup that checks for one and warms the shared image.
 * `vitest run` runs both; `--project unit` / `--project e2e` one of them.
 */
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
      // The e2e suite runs under runc unless MOAT_SANDBOX says otherwise (`npm run test:e2e:gvisor`) or a
      // test names its sandbox: Debian 12's runsc breaks statx (ls, stat), so an engine with runsc
      // registered (CI registers it for the sandbox tests) changes no other test.
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          env: { NO_COLOR: '1', MOAT_SANDBOX: process.env.MOAT_SANDBOX ?? 'runc' },
        },
      },
    ],
  },
});
