/**
 * A CPU limit above what the engine has is refused before anything is created (the engine would refuse it
 * only at container creation, after the image build), with the engine's count and where the limit was set:
 * `--cpus N`, or moat.yaml's `container.cpus` at its FILE:LINE:COL.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { MoatError } from '../errors.js';

/** Where a run's CPU limit came from: the flag, or the workspace config file (its absolute path). */
export type CpusSource = { flag: true } | { file: string };

export async function checkCpuLimit(nanoCpus: number | undefined, source: CpusSource | undefined, engineCpus: number | undefined): Promise<void> {
  if (nanoCpus === undefined || engineCpus === undefined || nanoCpus <= engineCpus * 1e9) return;
  const cpus = nanoCpus / 1e9;
  const has = `the engine has ${engineCpus} CPU${engineCpus === 1 ? '' : 's'}`;
  if (!source || 'flag' in source) {
    throw new MoatError(`--cpus ${cpus} asks for more CPUs than ${has}.`, { code: 'E_USAGE', hint: `Use --cpus ${engineCpus} or less.` });
  }
  const name = basename(source.file);
  const { positionOf } = await import('../config/parse.js');
  const at = positionOf(await readFile(source.file, 'utf8').catch(() => ''), ['container', 'cpus']);
  throw new MoatError(`${name}${at ? `:${at.line}:${at.col}` : ''}: container.cpus: ${cpus} is more CPUs than ${has}.`, {
    code: 'E_CONFIG',
    hint: `Set container.cpus to ${engineCpus} or less in ${name}, or override it with --cpus ${engineCpus}.`,
  });
}
