import type { Ora } from 'ora';
import pc from 'picocolors';
import type { BuildProgress } from '../image/build.js';
import { sanitizeForTerminal } from '../term/sanitize.js';

/**
 * What a build step does, from its owner (the `# moat-dep:` comment above it): `installing node@22…`,
 * `installing claude-code, codex…`, moat's own layer, the base image or the environment. The step's
 * number comes from the engine's `Step N/M :` line; its Dockerfile text is never shown (it is in the log).
 */
export function stepLabel(text: string, owner: string): { label: string; counter?: string } {
  const m = /^Step (\d+)\/(\d+) :/.exec(text);
  const counter = m ? `${m[1]}/${m[2]}` : undefined;
  const label =
    owner === 'base image'
      ? 'starting from the base image'
      : owner === 'moat'
        ? "setting up moat's layer"
        : owner === 'environment'
          ? 'setting the environment'
          : `installing ${owner}…`;
  return counter === undefined ? { label } : { label, counter };
}

/** Build progress: a spinner with what is being installed and the elapsed time on a TTY, plain lines otherwise. */
export async function buildProgress(stream: NodeJS.WriteStream = process.stderr): Promise<BuildProgress> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(0)}s`;
  if (!stream.isTTY) {
    stream.write('Building the image…\n');
    let last = '';
    return {
      // One line each time the build moves on to another owner (not a terminal: unchanged text).
      step: (text, owner) => {
        const { label, counter } = stepLabel(text, owner);
        if (label === last) return;
        last = label;
        stream.write(`  ${counter ? `[${counter}] ` : ''}${label.slice(0, 160)}\n`);
      },
      line: () => undefined,
      done: (ok) => stream.write(ok ? `Image built in ${elapsed()}.\n` : ''),
    };
  }
  const { default: ora } = await import('ora');
  const spinner: Ora = ora({ stream, text: 'Building the image' }).start();
  let step = '';
  const render = (): void => {
    spinner.text = `Building the image ${pc.dim(elapsed())} ${step}`;
  };
  const timer = setInterval(render, 500);
  return {
    step: (text, owner) => {
      const { label, counter } = stepLabel(text, owner);
      const width = Math.max(20, (stream.columns || 80) - 30);
      step = `${counter ? pc.dim(`${counter} `) : ''}${sanitizeForTerminal(label).slice(0, width)}`;
      render();
    },
    line: () => undefined,
    done: (ok) => {
      clearInterval(timer);
      if (ok) spinner.succeed(`Image built in ${elapsed()}`);
      else spinner.fail(`Image build failed after ${elapsed()}`);
    },
  };
}
