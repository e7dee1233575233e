import type { Ora } from 'ora';
import pc from 'picocolors';
import type { BuildProgress } from '../image/build.js';
import { sanitizeForTerminal } from '../term/sanitize.js';

/** Build progress: a spinner with the current step and elapsed time on a TTY, plain step lines otherwise. */
export async function buildProgress(stream: NodeJS.WriteStream = process.stderr): Promise<BuildProgress> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  if (!stream.isTTY) {
    stream.write('Building the image…\n');
    return {
      step: (text) => stream.write(`  ${text.slice(0, 160)}\n`), // not a terminal: unchanged
      line: () => undefined,
      done: (ok) => stream.write(ok ? `Image built in ${elapsed()}.\n` : ''),
    };
  }
  const { default: ora } = await import('ora');
  const spinner: Ora = ora({ stream, text: 'Building the image' }).start();
  let step = '';
  const timer = setInterval(() => { spinner.text = `Building the image ${pc.dim(elapsed())} ${step}`; }, 500);
  return {
    step: (text) => { step = pc.dim(sanitizeForTerminal(text).slice(0, Math.max(20, (stream.columns || 80) - 40))); },
    line: () => undefined,
    done: (ok) => {
      clearInterval(timer);
      if (ok) spinner.succeed(`Image built in ${elapsed()}`);
      else spinner.fail(`Image build failed after ${elapsed()}`);
    },
  };
}
