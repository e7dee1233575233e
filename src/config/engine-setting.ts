/**
 * The engine the user's global config names (`engine:` in ~/.moat/config.yaml). It is a property of the
 * host, so only the global config holds it: a workspace's moat.yaml has no such field (its strict schema
 * refuses one), so a workspace can never switch the engine its runs go to.
 */
import { readFile } from 'node:fs/promises';
import { errnoCode } from '../errors.js';
import type { EngineName } from '../runtime/engine.js';
import { loadGlobalConfig } from './load.js';

/** `engine:` of the global config; undefined when it is not set. The file is validated only when it names one. */
export async function engineSetting(file: string): Promise<EngineName | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  // Parsing YAML costs start-up time: only a file that mentions the key is read in full (and validated).
  if (!/^engine\s*:/m.test(text)) return undefined;
  return (await loadGlobalConfig(file)).engine;
}
