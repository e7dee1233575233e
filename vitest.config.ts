import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    pool: 'forks',
    globalSetup: ['test/e2e/global-setup.ts'],
    reporters: ['default'],
    // Output assertions read plain text; CI=true would otherwise turn colours on in non-TTY output.
    env: { NO_COLOR: '1' },
  },
});
