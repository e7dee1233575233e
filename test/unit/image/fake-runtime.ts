/**
 * An engine for ensureImage without one: the base image is present with no ONBUILD steps and the build
 * relay starts and reports ready. A test overrides the calls it watches (`build`, `remove`, …); any other
 * call fails the test.
 */
type Call = (...args: unknown[]) => unknown;

export function fakeBuildRuntime(overrides: Record<string, Call> = {}): never {
  const defaults: Record<string, Call> = {
    imageExists: (ref) => ref === 'debian:bookworm-slim',
    inspectImage: (ref) => (ref === 'debian:bookworm-slim' ? { id: 'sha256:1', tags: [], labels: {}, size: 1, env: [], onBuild: [] } : undefined),
    create: () => `relay-${Math.random()}`,
    start: () => undefined,
    remove: () => undefined,
    logs: (_id, _opts, onLine) => {
      (onLine as (l: { line: string }) => void)({ line: 'moat-build-relay ready' });
    },
    inspect: () => ({ status: 'running' }),
  };
  const calls = { ...defaults, ...overrides };
  return new Proxy(
    {},
    {
      get:
        (_t, name: string) =>
        async (...args: unknown[]) => {
          const call = calls[name];
          if (!call) throw new Error(`unexpected ${name}`);
          return call(...args);
        },
    },
  ) as never;
}
