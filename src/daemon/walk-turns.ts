/**
 * The daemon's workspace walks (pre-run snapshots asked over its API, post-run snapshots when a run ends):
 * at most MAX_WALKS at once, each a workspace's tree in memory and its hashing; more wait their turn, and a
 * second walk of a workspace being walked waits for that walk (it then starts from the manifest it left).
 */
const MAX_WALKS = 2;
let walking = 0;
const turns: Array<() => void> = [];
const byWorkspace = new Map<string, Promise<unknown>>();

export async function inTurn<T>(workspace: string, work: () => Promise<T>): Promise<T> {
  const before = byWorkspace.get(workspace);
  const mine = (async () => {
    await before?.catch(() => undefined);
    // A slot is handed from a walk that ends straight to the next in line.
    if (walking >= MAX_WALKS) await new Promise<void>((r) => turns.push(r));
    else walking++;
    try {
      return await work();
    } finally {
      const next = turns.shift();
      if (next) next();
      else walking--;
    }
  })();
  byWorkspace.set(workspace, mine);
  try {
    return await mine;
  } finally {
    if (byWorkspace.get(workspace) === mine) byWorkspace.delete(workspace);
  }
}
