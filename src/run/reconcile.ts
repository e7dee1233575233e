import type { ContainerRuntime } from '../runtime/types.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';

/**
 * The truth about a run without writing anything: a run the store thinks is live is checked against its
 * container (the CLI that started it may have been killed).
 */
export async function effectiveState(
  meta: RunMetadata,
  runtime: ContainerRuntime,
  reread?: (id: string) => Promise<RunMetadata | undefined>,
): Promise<RunMetadata> {
  if (!LIVE_STATES.has(meta.state) || !meta.containerId) return meta;
  const c = await runtime.inspect(meta.containerId);
  if (!c) {
    // The daemon may have recorded the exit and removed the container since `meta` was read.
    const fresh = reread ? await reread(meta.id) : undefined;
    if (fresh && !LIVE_STATES.has(fresh.state)) return fresh;
    return { ...meta, state: 'failed', reason: 'its container is gone' };
  }
  switch (c.status) {
    case 'running':
    case 'paused':
    case 'restarting':
      return { ...meta, state: 'running' };
    case 'exited':
    case 'dead':
      return { ...meta, state: 'stopped', exitCode: c.exitCode, ...(c.finishedAt ? { stoppedAt: c.finishedAt } : {}) };
    case 'created':
    case 'removing':
      return meta;
  }
}
