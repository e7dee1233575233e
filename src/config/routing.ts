import { DEFAULT_ROUTING_PORT } from '../gateway/routes.js';
import { loadGlobalConfig } from './load.js';

/** The routing proxy's loopback port: `routing.port` in ~/.moat/config.yaml, else 8080. */
export async function routingPort(globalConfigFile: string): Promise<number> {
  return (await loadGlobalConfig(globalConfigFile)).routing?.port ?? DEFAULT_ROUTING_PORT;
}
