/**
 * The lines moat prints around an attached session, in one place so `moat run -i`, `moat attach` and
 * the agents say the same thing.
 */
const ESCAPE_KEYS = 'Ctrl-/ d detaches, Ctrl-/ k stops the run.';
/** Seconds a second Ctrl-C has to stop a run after the first one asked to detach. */
export const INTERRUPT_WINDOW_MS = 1000;

/** An interactive session (run -i, attach, an agent's TUI). */
export const attachedBanner = (name: string): string => `Attached to ${name}. ${ESCAPE_KEYS}`;

/** Attached to the output of a run that is not interactive. */
export const outputBanner = (name: string): string => `Attached to the output of ${name}. Ctrl-C detaches (the run goes on), Ctrl-C twice stops it.`;

export const armedLine = (name: string): string => `Detaching from ${name}; Ctrl-C again within 1 s stops it.`;
export const stoppingLine = (name: string): string => `Stopping ${name}…`;
export const stoppedLine = (name: string): string => `Stopped ${name}`;
export const detachedLine = (name: string, id: string): string => `Detached from run ${name} (${id}); moat attach ${name} to return.`;

/** The last line of `moat logs -f`. */
export const exitLine = (name: string, code: number | undefined): string =>
  code === undefined ? `moat: run ${name} ended; its exit code was not recorded` : `moat: run ${name} exited with code ${code}`;

/** Said before an interactive run takes the screen over, e.g. `Starting Claude Code (image cached, 0.9 s)…`. */
export function startingLine(what: string, image: { built: boolean }, elapsedMs: number): string {
  return `Starting ${what} (image ${image.built ? 'built' : 'cached'}, ${(elapsedMs / 1000).toFixed(1)} s)…`;
}
