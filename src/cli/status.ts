import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { bytes, forOut, jsonOut, type CliContext } from './context.js';
import { example } from './help.js';
import { daemonHealth } from '../daemon/client.js';
import { LABEL_HOME, LABEL_MANAGED } from '../runtime/types.js';
import { isMoatError } from '../errors.js';
import { VERSION } from '../version.js';

export function registerStatusCommands(program: Command, ctx: CliContext): void {
  const status = program
    .command('status')
    .description('engine, daemon, runs, images and disk use, with hints')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const hints: string[] = [];
      let engine: { version: string } | { error: string };
      try {
        const v = await ctx.runtime.version();
        engine = { version: `${v.engine} (API ${v.api}, ${v.os}/${v.arch})` };
      } catch (err) {
        engine = { error: isMoatError(err) ? err.message : String(err) };
        if (isMoatError(err) && err.hint) hints.push(err.hint);
      }
      const daemon = await daemonHealth(ctx.home);
      const runs = 'error' in engine ? await ctx.store.list() : await ctx.reconcileAll();
      const counts: Record<string, number> = {};
      for (const r of runs) counts[r.state] = (counts[r.state] ?? 0) + 1;
      const mine = { [LABEL_MANAGED]: 'true', [LABEL_HOME]: ctx.home.root };
      const images = 'error' in engine ? [] : await ctx.runtime.listImages(mine);
      const imageBytes = images.reduce((a, i) => a + i.size, 0);
      const stopped = (counts.stopped ?? 0) + (counts.failed ?? 0);
      if (stopped > 10) hints.push(`${stopped} stopped runs: moat clean removes them.`);
      const out = {
        version: VERSION, home: ctx.home.root, engine, daemon: daemon ? { pid: daemon.pid, runs: daemon.runs.length } : null,
        runs: counts, images: images.length, imageBytes, hints,
      };
      if (o.json) {
        process.stdout.write(`${jsonOut(out, 2)}\n`);
        return;
      }
      const w = (k: string, v: string): void => { process.stdout.write(`${pc.bold(k.padEnd(8))} ${v}\n`); };
      engine = 'error' in engine ? { error: forOut(engine.error) } : engine;
      w('moat', `${VERSION} (home ${ctx.home.root})`);
      w('engine', 'error' in engine ? pc.red(engine.error) : `docker ${engine.version}`);
      w('daemon', daemon ? `running (pid ${daemon.pid}, ${daemon.runs.length} live runs)` : 'not running (starts with the next run)');
      w('runs', runs.length === 0 ? 'none' : Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', '));
      w('images', `${images.length} (${bytes(imageBytes)})`);
      for (const h of hints) process.stdout.write(`${pc.yellow('hint:')} ${forOut(h)}\n`);
    });
  example(status, ['moat status', 'moat status --json']);

  const version = program
    .command('version')
    .description('print the version of moat and of the engine')
    .action(async () => {
      process.stdout.write(`moat ${VERSION} (node ${process.versions.node})\n`);
      try {
        const v = await ctx.runtime.version();
        process.stdout.write(`docker engine ${v.engine} (API ${v.api})\n`);
      } catch {
        process.stdout.write('docker engine: not reachable\n');
      }
    });
  example(version, ['moat version']);
}
