import { defineConfig, type ViteUserConfig } from 'vitest/config';
import { PODMAN_SOCKET, engineHasRunsc, podmanAnswers, requestedProjects } from './test/e2e/engine-probe.js';

/**
 * Projects: `unit` needs nothing but Node (no engine, no tmux, no build; `--project unit` asks no engine
 * anything). The e2e projects drive the built CLI against a real engine, each with the global setup that
 * checks for it and warms the shared images on it:
 * - `e2e`: the whole suite, under gVisor when the engine has runsc registered as moat needs it, else runc
 *   (said in one line); MOAT_SANDBOX=gvisor|runc chooses.
 * - `e2e-runc`: when `e2e` runs under gVisor, the isolation and credential suites under runc as well.
 * - `e2e-podman`: the foundation, gateway, credential and attack suites against Podman; in the default run
 *   when Podman's API socket answers (MOAT_E2E_PODMAN=0 leaves it out; `npm run test:e2e:podman` runs it alone).
 * `vitest run` runs every project that applies; `--project NAME` one of them (named, it runs even when the
 * probe would leave it out, and its global setup says what is missing).
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

/** The foundation, gateway, credential and attack suites against Podman (gVisor is Docker-only: runc). */
const e2ePodman = {
  extends: true as const,
  test: {
    name: 'e2e-podman',
    // The suites issue 16 names, no more (each file costs minutes on Podman under load): foundation (basic,
    // engine choice), gateway (egress, host services), credentials (injection, the container scan for the
    // secret), hostile container and workspace, and the host's own addresses. Image-build attacks
    // (hostile-build, minutes on Podman: `npm run test:e2e:podman:build` adds them) and the proxy's path
    // parsing (engine-independent) run on Docker only.
    include: [
      'test/e2e/engine-choice.test.ts',
      'test/e2e/basic.test.ts',
      'test/e2e/gateway.test.ts',
      'test/e2e/credentials.test.ts',
      'test/e2e/hostile-container.test.ts',
      'test/e2e/hostile-workspace-mounts.test.ts',
      'test/e2e/hostile-gateway-addresses.test.ts',
      ...(process.env.MOAT_E2E_PODMAN_BUILD === '1' ? ['test/e2e/hostile-build.test.ts'] : []),
    ],
    globalSetup: ['test/e2e/global-setup.ts'],
    env: { NO_COLOR: '1', MOAT_E2E_ENGINE: 'podman', DOCKER_HOST: `unix://${PODMAN_SOCKET}`, MOAT_SANDBOX: 'runc' },
  },
};

export default defineConfig(async (): Promise<ViteUserConfig> => {
  const named = requestedProjects();
  const engines = named.length === 0 || named.some((n) => n !== 'unit');
  const runsc = engines && !process.env.MOAT_SANDBOX ? await engineHasRunsc() : false;
  const sandbox = process.env.MOAT_SANDBOX || (runsc ? 'gvisor' : 'runc');
  // Podman joins the default run when its API socket answers (scripts/setup.sh starts it as root).
  const podmanWanted = named.length === 0 && process.env.MOAT_E2E_PODMAN !== '0';
  const podman = named.includes('e2e-podman') || (podmanWanted && (await podmanAnswers()));
  if (engines && !process.env.MOAT_SANDBOX && !runsc && (named.length === 0 || named.includes('e2e'))) {
    console.log('e2e: the engine has no runsc registered as moat needs it, so the e2e suite runs under runc (gVisor: sudo bash scripts/setup.sh)');
  }
  if (podmanWanted && !podman) {
    console.log(`e2e: Podman's API socket (${PODMAN_SOCKET}) does not answer, so the e2e-podman project is left out (sudo bash scripts/setup.sh)`);
  }
  return {
    test: {
      testTimeout: 60_000,
      hookTimeout: 300_000,
      pool: 'forks',
      reporters: ['default'],
      // Output assertions read plain text; CI=true would otherwise turn colours on in non-TTY output.
      env: { NO_COLOR: '1' },
      projects: [
        { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
        {
          extends: true,
          test: {
            name: 'e2e',
            include: ['test/e2e/**/*.test.ts'],
            globalSetup: ['test/e2e/global-setup.ts'],
            env: { NO_COLOR: '1', MOAT_SANDBOX: sandbox },
          },
        },
        // The matrix: when the suite runs under gVisor, the isolation and credential suites run under runc as
        // well (the same files, a second project). Left out: suites whose runs never reach a container's kernel
        // (image builds run on the engine's default runtime either way; moat.yaml refusals and approvals).
        ...(sandbox === 'gvisor' || named.includes('e2e-runc') ? [e2eRunc] : []),
        ...(podman ? [e2ePodman] : []),
      ],
    },
  };
});
