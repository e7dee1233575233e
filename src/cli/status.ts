import type { Command } from '@commander-js/extra-typings';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { bytes } from '../term/units.js';
import { printJson } from './json.js';
import { daemonView, engineView } from './views.js';
import { example } from './help.js';
import { daemonHealth } from '../daemon/client.js';
import { LABEL_HOME, LABEL_MANAGED } from '../runtime/types.js';
import { VERSION } from '../version.js';
import { sandboxView } from './sandbox-view.js';

export function registerStatusCommands(program: Command, ctx: CliContext): void {
  const status = program
    .command('status')
    .description('engine, daemon, runs, images and disk use, with hints')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      const hints: string[] = [];
      const engine = await engineView(() => ctx.runtime);
      if (!engine.reachable && engine.error.code !== 'E_INTERNAL' && engine.error.hint) hints.push(engine.error.hint);
      const sandbox = engine.reachable ? await sandboxView(ctx).catch(() => undefined) : undefined;
      if (sandbox?.notice) hints.push(sandbox.notice);
      const daemon = daemonView(await daemonHealth(ctx.home), ctx.home);
      const runs = engine.reachable ? await ctx.reconcileAll() : await ctx.store.list();
      const counts: Record<string, number> = {};
      for (const r of runs) counts[r.state] = (counts[r.state] ?? 0) + 1;
      const mine = { [LABEL_MANAGED]: 'true', [LABEL_HOME]: ctx.home.root };
      const images = engine.reachable ? await ctx.runtime.listImages(mine) : [];
      const imageBytes = images.reduce((a, i) => a + i.size, 0);
      const stopped = (counts.stopped ?? 0) + (counts.failed ?? 0);
      if (stopped > 10) hints.push(`${stopped} stopped runs: moat clean removes them.`);
      if (o.json) {
        await printJson({
          version: VERSION,
          home: ctx.home.root,
          engine,
          ...(sandbox ? { sandbox: sandbox.sandbox ?? null } : {}),
          daemon,
          runs: counts,
          images: images.length,
          imageBytes,
          hints,
        });
        return;
      }
      const w = (k: string, v: string): void => {
        process.stdout.write(`${pc.bold(k.padEnd(8))} ${v}\n`);
      };
      w('moat', `${VERSION} (home ${ctx.home.root})`);
      w(
        'engine',
        engine.reachable ? `${engine.name} ${engine.version} (API ${engine.api}, ${engine.os}/${engine.arch})` : pc.red(forOut(engine.error.message)),
      );
      if (sandbox) w('sandbox', sandbox.sandbox ? sandbox.line : pc.red(forOut(sandbox.line)));
      w('daemon', daemon.running ? `running (pid ${daemon.pid}, ${daemon.runs.length} live runs)` : 'not running (starts with the next run)');
      w(
        'runs',
        runs.length === 0
          ? 'none'
          : Object.entries(counts)
              .map(([s, n]) => `${n} ${s}`)
              .join(', '),
      );
      w('images', `${images.length} (${bytes(imageBytes)})`);
      for (const h of hints) process.stdout.write(`${pc.yellow('hint:')} ${forOut(h)}\n`);
    });
  example(status, ['moat status', 'moat status --json']);

  const version = program
    .command('version')
    .description('print the version of moat and of the engine')
    .option('--json', 'print as JSON')
    .action(async (o) => {
      if (o.json) {
        await printJson({ version: VERSION, node: process.versions.node, engine: await engineView(() => ctx.runtime) });
        return;
      }
      process.stdout.write(`moat ${VERSION} (node ${process.versions.node})\n`);
      const engine = await engineView(() => ctx.runtime);
      process.stdout.write(engine.reachable ? `${engine.name} engine ${engine.version} (API ${engine.api})\n` : 'engine: not reachable\n');
    });
  example(version, ['moat version']);
}
