import type { Command } from '@commander-js/extra-typings';
import { spawn } from 'node:child_process';
import type { CliContext } from './context.js';
import { example } from './help.js';
import { MoatError } from '../errors.js';
import { LIVE_STATES, type RunMetadata } from '../store/types.js';
import { serviceUrl, servicesOf } from '../gateway/routes.js';
import { routingPort } from '../config/routing.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { routingCaHelp } from './routing-ca-help.js';
import { CA_CERT_FILE } from '../gateway/ca-names.js';

const hasPorts = (m: RunMetadata): boolean => LIVE_STATES.has(m.state) && servicesOf(m.ports).length > 0;

/** The browser opener of this platform. */
function opener(platform: NodeJS.Platform): [string, string[]] {
  if (platform === 'darwin') return ['open', []];
  if (platform === 'win32') return ['cmd', ['/c', 'start', '']];
  return ['xdg-open', []];
}

/** `moat open [run] [service]`: a run's service in the browser, through the daemon's router. */
export function registerOpenCommand(program: Command, ctx: CliContext): void {
  const open = program
    .command('open')
    .description('open a service of a run (moat.yaml ports:) in the browser')
    .argument('[run]', 'run name or id (default: the newest live run with ports)')
    .argument('[service]', 'service name (default: the first in ports:)')
    .option('--print', 'print the URL only')
    .option('--ca', "print where the router's CA certificate is and how to make a browser trust it (for https://)")
    .action(async (ref, name, o) => {
      if (o.ca) {
        const cert = join(ctx.home.routingCaDir, CA_CERT_FILE);
        process.stdout.write(`${routingCaHelp(cert, existsSync(cert), process.platform, join(ctx.home.caDir, CA_CERT_FILE)).join('\n')}\n`);
        return;
      }
      const run = await ctx.pickRun(ref, 'open', hasPorts);
      const services = servicesOf(run.ports);
      if (services.length === 0) {
        throw new MoatError(`The run ${run.name} publishes no ports.`, {
          code: 'E_USAGE',
          hint: 'Add ports: {web: 3000} to moat.yaml, or start it with -p web=3000.',
        });
      }
      if (!LIVE_STATES.has(run.state))
        throw new MoatError(`The run ${run.name} has stopped.`, {
          code: 'E_USAGE',
          hint: `Start it again: moat run (its services were ${services.map((s) => s.name).join(', ')}).`,
        });
      const service = name === undefined ? services[0] : services.find((s) => s.name === name);
      if (!service) {
        throw new MoatError(`The run ${run.name} has no service "${name ?? ''}".`, {
          code: 'E_NOT_FOUND',
          hint: `Its services: ${services.map((s) => s.name).join(', ')}.`,
        });
      }
      const url = serviceUrl(run.name, service.name, await routingPort(ctx.home.globalConfig));
      if (o.print) {
        process.stdout.write(`${url}\n`);
        return;
      }
      const [cmd, args] = opener(process.platform);
      const child = spawn(cmd, [...args, url], { detached: true, stdio: 'ignore' });
      child.on('error', () => ctx.warn(`Could not start a browser (${cmd}); open ${url} yourself.`));
      child.unref();
      ctx.info(`Opening ${url} (for https://, trust the router's CA: moat open --ca)`);
    });
  example(open, ['moat open', 'moat open my-run web', 'moat open --print', 'moat open --ca']);
}
