/**
 * Where a run's services are reached from the host: `http(s)://SERVICE.RUN.localhost:PORT/` through the
 * daemon's routing proxy (the first service also at `RUN.localhost`), and how the container side connects.
 * Plain functions shared by the CLI (URLs, `moat open`), the run's environment and the daemon's router.
 */

export const DEFAULT_ROUTING_PORT = 8080;

/** One published service of a run, in moat.yaml's order. */
export interface RunService {
  name: string;
  port: number;
}

export function servicesOf(ports: Readonly<Record<string, number>> | undefined): RunService[] {
  return Object.entries(ports ?? {}).map(([name, port]) => ({ name, port }));
}

function serviceHost(run: string, service: string | undefined, routingPort: number): string {
  return `${service ? `${service}.` : ''}${run}.localhost:${routingPort}`;
}

export function serviceUrl(run: string, service: string | undefined, routingPort: number, scheme: 'http' | 'https' = 'http'): string {
  return `${scheme}://${serviceHost(run, service, routingPort)}/`;
}

/** Every URL of a run, by service name (the run's own name first when it has services). */
export function runUrls(run: string, ports: Readonly<Record<string, number>> | undefined, routingPort: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of servicesOf(ports)) out[s.name] = serviceUrl(run, s.name, routingPort);
  return out;
}

/**
 * The variables a run's processes build absolute links with: MOAT_URL (the first service), and for each
 * service MOAT_URL_NAME and MOAT_HOST_NAME (host:port), NAME upper-cased with dashes as underscores.
 */
export function portEnv(run: string, ports: Readonly<Record<string, number>> | undefined, routingPort: number): Record<string, string> {
  const services = servicesOf(ports);
  if (services.length === 0) return {};
  const env: Record<string, string> = { MOAT_URL: serviceUrl(run, undefined, routingPort) };
  for (const s of services) {
    const key = s.name.toUpperCase().replace(/-/g, '_');
    env[`MOAT_URL_${key}`] = serviceUrl(run, s.name, routingPort);
    env[`MOAT_HOST_${key}`] = serviceHost(run, s.name, routingPort);
  }
  return env;
}

/**
 * Which run and service a Host header names: `svc.run.localhost[:port]` or `run.localhost[:port]` (the
 * first service). Anything else (another domain, more labels, an IP) is not a route.
 */
export function parseRouteHost(host: string | undefined): { run: string; service?: string } | undefined {
  if (!host) return undefined;
  const name = host
    .toLowerCase()
    .replace(/:[0-9]{1,5}$/, '')
    .replace(/\.$/, '');
  const labels = name.split('.');
  if (labels.at(-1) !== 'localhost' || labels.length < 2 || labels.length > 3) return undefined;
  if (!labels.every((l) => /^[a-z0-9][a-z0-9-]{0,62}$/.test(l))) return undefined;
  return labels.length === 3 ? { run: labels[1] ?? '', service: labels[0] ?? '' } : { run: labels[0] ?? '' };
}

/** `localhost`, `127.0.0.1` or `[::1]` (any port): the index page's hosts. */
export function isIndexHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.toLowerCase().replace(/:[0-9]{1,5}$/, '');
  return name === 'localhost' || name === '127.0.0.1' || name === '[::1]';
}

/** The container side of a service's tunnel: the daemon's socket for PORT in the run's /moat/net. */
export function tunnelSocketName(port: number): string {
  return `in-${port}.sock`;
}
