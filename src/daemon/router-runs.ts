import type { MoatHome } from '../home/paths.js';
import { RunStore } from '../store/store.js';
import { LIVE_STATES } from '../store/types.js';

/** Whether this home has a run of that name and none of that name is live (the router's 502 page). */
export async function stoppedRun(home: MoatHome, name: string): Promise<boolean> {
  const runs = (await new RunStore(home).list()).filter((r) => r.name === name);
  return runs.length > 0 && !runs.some((r) => LIVE_STATES.has(r.state));
}
