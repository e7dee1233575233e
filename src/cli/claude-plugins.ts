import type { Command } from '@commander-js/extra-typings';
import { homedir } from 'node:os';
import pc from 'picocolors';
import { MoatError } from '../errors.js';
import { forOut, type CliContext } from './context.js';
import { printJson } from './json.js';
import { example } from './help.js';

/** Columns padded to their widest cell (the last one not padded). */
function table(rows: string[][]): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

async function inventoryOptions(ctx: CliContext, workspace: string) {
  const { checkWorkspace } = await import('../run/prepare.js');
  return { home: ctx.home, workspace: await checkWorkspace(workspace), hostHome: ctx.env.HOME ?? homedir(), env: ctx.env };
}

/**
 * `moat claude plugins list`, `moat claude marketplace list|update`: the plugins and marketplaces a run
 * here would use, from which settings file, and their copies on the host. Only `marketplace update` writes
 * (Claude Code's own marketplace copies on the host).
 */
export function registerClaudePluginCommands(claude: Command<[string | undefined]>, ctx: CliContext): void {
  const plugins = claude.command('plugins').description('Claude Code plugins a run in this workspace enables, and where they come from');
  const pluginsList = plugins
    .command('list')
    .description('each plugin: enabled or not, the settings file that decides, its installed copy on the host')
    .option('--workspace <dir>', 'the workspace', '.')
    .option('--json', 'print one JSON document')
    .action(async (o) => {
      const { pluginInventory } = await import('../agents/claude/plugin-inventory.js');
      const inv = await pluginInventory(await inventoryOptions(ctx, o.workspace));
      if (o.json) {
        const { layers, ...rest } = inv;
        await printJson({ ...rest, settingsFiles: layers.map(({ source, file, present, used }) => ({ source, file, present, used })) });
        return;
      }
      if (inv.plugins.length === 0) process.stdout.write(`No Claude Code plugin is enabled or disabled for ${forOut(inv.workspace)}.\n`);
      else {
        const rows = [['PLUGIN', 'STATE', 'DECIDED BY', 'SET IN (LATER WINS)', 'HOST COPY']];
        for (const p of inv.plugins) {
          rows.push([
            p.id,
            p.enabled ? 'enabled' : 'disabled',
            p.decidedBy,
            p.settings.map((s) => `${s.source}=${s.enabled ? 'on' : 'off'}`).join(' '),
            p.cachedAt
              ? `${p.cachedAt}${p.version ? ` (${p.version})` : ''}${p.sharedWithContainer ? ', mounted read-only' : ', not shared'}`
              : 'not installed on this host',
          ]);
        }
        process.stdout.write(forOut(table(rows)));
      }
      writeLayers(inv.layers);
      for (const n of inv.notes) ctx.info(`note: ${n}`);
    });

  const market = claude.command('marketplace').description("Claude Code plugin marketplaces: where each is declared and cached; refresh the host's copies");
  const marketList = market
    .command('list')
    .description('each marketplace: the settings that declare it, its source, its copy on the host and when it was fetched')
    .option('--workspace <dir>', 'the workspace', '.')
    .option('--json', 'print one JSON document')
    .action(async (o) => {
      const { pluginInventory } = await import('../agents/claude/plugin-inventory.js');
      const inv = await pluginInventory(await inventoryOptions(ctx, o.workspace));
      if (o.json) {
        await printJson({ workspace: inv.workspace, marketplaces: inv.marketplaces, notes: inv.notes });
        return;
      }
      if (inv.marketplaces.length === 0) process.stdout.write(`No Claude Code plugin marketplace is declared or fetched for ${forOut(inv.workspace)}.\n`);
      else {
        const rows = [['MARKETPLACE', 'DECLARED IN', 'SOURCE', 'HOST COPY', 'FETCHED']];
        for (const m of inv.marketplaces)
          rows.push([m.name, m.declaredIn.join(', ') || '-', m.source ?? '-', m.cachedAt ?? 'not fetched', m.lastUpdated ?? '-']);
        process.stdout.write(forOut(table(rows)));
      }
      writeLayers(inv.layers);
      for (const n of inv.notes) ctx.info(`note: ${n}`);
    });
  const marketUpdate = market
    .command('update')
    .description("refresh the host's copies of the marketplaces (all, or those named) from their sources; never one only the project declares")
    .argument('[names...]', 'marketplace names (default: all)')
    .option('--workspace <dir>', 'the workspace', '.')
    .option('--json', 'print one JSON document')
    .action(async (names, o) => {
      const { updateMarketplaces } = await import('../agents/claude/marketplace-update.js');
      const { results, unknown } = await updateMarketplaces({ ...(await inventoryOptions(ctx, o.workspace)), names });
      if (unknown.length > 0) {
        throw new MoatError(`No marketplace named ${unknown.map((n) => JSON.stringify(n)).join(', ')} is declared or fetched here.`, {
          code: 'E_NOT_FOUND',
          hint: 'moat claude marketplace list shows them.',
        });
      }
      if (results.some((r) => r.status === 'failed')) process.exitCode = 1;
      if (o.json) {
        await printJson({ results });
        return;
      }
      if (results.length === 0) process.stdout.write('No marketplace to refresh.\n');
      const paint = { updated: pc.green, fetched: pc.green, local: (s: string) => s, skipped: pc.yellow, failed: pc.red } as const;
      const width = Math.max(0, ...results.map((r) => r.name.length));
      for (const r of results) {
        process.stdout.write(
          `${paint[r.status](r.status.padEnd(7))}  ${forOut(r.name.padEnd(width))}  ${forOut(r.detail)}${r.cachedAt && r.status !== 'local' ? forOut(` → ${r.cachedAt}`) : ''}\n`,
        );
      }
    });
  example(plugins, ['moat claude plugins list']);
  example(pluginsList, ['moat claude plugins list', 'moat claude plugins list --workspace ~/src/app --json']);
  example(market, ['moat claude marketplace list', 'moat claude marketplace update']);
  example(marketList, ['moat claude marketplace list']);
  example(marketUpdate, ['moat claude marketplace update', 'moat claude marketplace update my-marketplace']);
}

function writeLayers(layers: ReadonlyArray<{ source: string; file: string; present: boolean; used: boolean }>): void {
  process.stdout.write('\nsettings read, later wins:\n');
  const width = Math.max(...layers.map((l) => l.source.length));
  for (const l of layers) {
    const state = !l.used
      ? ' (not used: claude.host_plugins is false)'
      : l.present
        ? l.source === 'moat.yaml'
          ? ' (approved claude.* settings)'
          : ''
        : l.source === 'moat.yaml'
          ? ' (nothing approved)'
          : ' (absent)';
    process.stdout.write(forOut(`  ${l.source.padEnd(width)}  ${l.file}${state}\n`));
  }
}
