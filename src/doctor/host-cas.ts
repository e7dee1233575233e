/**
 * The host's extra CAs that builds and the gateway trust: the certificates of `build.ca_certs`,
 * NODE_EXTRA_CA_CERTS and SSL_CERT_FILE that are not public roots Node already ships.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { loadGlobalConfig } from '../config/load.js';
import { hostExtraCAs, splitPem } from '../image/host-ca.js';
import { plural } from './format.js';
import { ok, warn, type Check, type CheckResult } from './types.js';

const subject = (c: X509Certificate): string => /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject.split('\n')[0] ?? '?';

export const hostCasCheck: Check = {
  name: 'hostCAs',
  onTimeout: { detail: 'reading the extra CA files took too long', fix: 'Check the files NODE_EXTRA_CA_CERTS and SSL_CERT_FILE name', status: 'warn' },
  async run(ctx): Promise<CheckResult> {
    const sources: Array<[string, string]> = [];
    let configProblem: string | undefined;
    try {
      const g = await loadGlobalConfig(ctx.home.globalConfig);
      if (g.build?.ca_certs) sources.push(['build.ca_certs', g.build.ca_certs]);
    } catch (err) {
      configProblem = (err as Error).message;
    }
    for (const v of ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'] as const) {
      const f = ctx.env[v];
      if (f) sources.push([v, f]);
    }
    if (configProblem) return warn('hostCAs', `${ctx.home.globalConfig} is invalid: ${configProblem}`, `Fix ${ctx.home.globalConfig}`);
    if (sources.length === 0) return ok('hostCAs', 'none (build.ca_certs, NODE_EXTRA_CA_CERTS and SSL_CERT_FILE are unset)');
    const parts: string[] = [];
    const problems: string[] = [];
    const fixes: string[] = [];
    // One entry per file, with every setting that names it.
    const byFile = new Map<string, string[]>();
    for (const [from, file] of sources) byFile.set(file, [...(byFile.get(file) ?? []), from]);
    for (const [file, froms] of byFile) {
      const from = froms.join(', ');
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        problems.push(`${from}: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        fixes.push(
          ...froms.map((f) => (f === 'build.ca_certs' ? `Fix build.ca_certs in ${ctx.home.globalConfig}` : `Point ${f} at a readable PEM bundle, or unset it`)),
        );
        continue;
      }
      const all = splitPem(text);
      if (all.length === 0) {
        problems.push(`${from}: ${file} holds no PEM certificate`);
        fixes.push(...froms.map((f) => `Point ${f} at a PEM bundle`));
        continue;
      }
      const extra = (await hostExtraCAs({ env: {}, configured: file })).map((p) => new X509Certificate(p));
      const expired = extra.filter((c) => Date.parse(c.validTo) <= ctx.now.getTime()).length;
      const names = extra.map(subject).reverse();
      const shown = names.length > 3 ? `${names.slice(0, 3).join(', ')}, … ${names.length - 3} more` : names.join(', ');
      parts.push(
        `${from}: ${file}, ${plural(all.length, 'certificate')}, ${extra.length} not among Node's public roots${extra.length > 0 ? ` (${shown})` : ''}${expired > 0 ? `, ${expired} of them expired` : ''}`,
      );
    }
    const detail = [...problems, ...parts].join('; ');
    return problems.length > 0 ? warn('hostCAs', detail, [...new Set(fixes)].join('; ')) : ok('hostCAs', detail);
  },
};
