import pc from 'picocolors';
import type { MoatHome } from '../home/paths.js';
import { loadProviders, providersDir } from '../credentials/providers/registry.js';
import { renderTable, type Cell } from '../term/table.js';
import { textFor } from '../term/sanitize.js';

/** `moat grant providers [--json]`: every provider a grant may name, with its hosts and where it comes from. */
export function providersAction(ctx: { home: MoatHome; out: (s: string) => void; stdout?: NodeJS.WritableStream }) {
  return async (opts: { json?: true }): Promise<void> => {
    const registry = await loadProviders(ctx.home);
    const rows = registry.entries.map((e) => ({
      name: e.name,
      source: e.source,
      kind: e.kind,
      hosts: e.hosts,
      description: e.description,
      status: e.error ? 'invalid' : 'ok',
      ...(e.error ? { error: e.error.message, fix: e.error.hint ?? null } : {}),
    }));
    if (opts.json) {
      ctx.out(JSON.stringify({ providers: rows, directory: providersDir(ctx.home) }));
      return;
    }
    const stdout = ctx.stdout ?? process.stdout;
    const cells = rows.map((r): Cell[] => [
      r.name,
      r.status === 'ok' ? r.hosts.join(', ') : { text: 'invalid', paint: pc.red },
      r.source,
      r.status === 'ok' ? r.description : (r.error ?? ''),
    ]);
    stdout.write(
      renderTable(['NAME', { header: 'HOSTS', max: 50 }, { header: 'SOURCE', max: 60 }, { header: 'DESCRIPTION', max: 70 }], cells, {
        safe: textFor(stdout as NodeJS.WriteStream),
      }),
    );
    ctx.out(pc.dim(`Your own: ${providersDir(ctx.home)}/NAME.yaml (see moat grant --help), then moat grant NAME.`));
  };
}
