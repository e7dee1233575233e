/**
 * A read-only command's text through the user's pager when stdout is a terminal (term/pager.ts says which).
 * While the pager runs, moat ignores Ctrl-C (the pager takes it, as git leaves it to less) and waits for the
 * pager to end before it exits, so the shell's prompt never comes back under a pager still drawing. When
 * the user quits the pager before the output is all written, the command ends there: what was left
 * unwritten was only for reading.
 */
import { pagerCommand, startPager } from '../term/pager.js';
import { setOutput } from './json.js';

export async function paged(enabled: boolean, body: () => Promise<void>): Promise<void> {
  const cmd = enabled ? pagerCommand(process.env, process.stdout.isTTY === true) : undefined;
  const pager = cmd ? await startPager(cmd, process.env) : undefined;
  if (!pager) return body();
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  let finished = false;
  void pager.exited.then(() => {
    if (!finished) process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
  setOutput(pager.input);
  try {
    await body();
  } finally {
    finished = true;
    setOutput();
    await pager.done();
    process.off('SIGINT', ignore);
  }
}
