/**
 * moat.yaml's mount sources, resolved to the real host paths they name. A run can write the workspace, so
 * it can replace any folder on the way to a relative source (or the source itself) with a symbolic link
 * to `/`: the text of moat.yaml stays the same while the host path it reaches changes. Every source is
 * therefore resolved with realpath before the approval check, the real path is what is approved and
 * recorded, and the real path (with no symbolic link left in it) is what the engine is given.
 *
 * Residual window: between realpath here and the engine's mount, a process that can write a folder on the
 * way (another run in the same workspace, running at that moment) could still swap a folder of the
 * resolved path for a link. The engine's API takes paths, not file descriptors, so that window cannot be
 * closed from here; it is milliseconds long and needs a second, concurrent run.
 */
import { realpath } from 'node:fs/promises';
import { MoatError, errnoCode } from '../errors.js';
import type { Mount } from '../runtime/types.js';
import type { MountEntry } from './trust-settings.js';
import { inside } from '../container/sources.js';

/** A path the engine's "source:target[:ro]" bind syntax can carry unambiguously. */
const UNSAFE_PATH = /[:,\p{Cc}]/u;

/** The source part of a mount spec, as written ("./cfg/data" of "./cfg/data:/data:ro"). */
export function specSource(spec: string): string {
  return spec.split(':')[0] ?? spec;
}

/**
 * Resolves each mount (the parsed `mounts`, in the order of their `specs`) to its real source.
 * `workspace` is the workspace as given; `realWorkspace` its real path.
 */
export async function resolveMountSources(mounts: readonly Mount[], specs: readonly string[], workspace: string, realWorkspace: string): Promise<MountEntry[]> {
  const out: MountEntry[] = [];
  for (const [i, m] of mounts.entries()) {
    const spec = specs[i] ?? `${m.source}:${m.target}${m.readOnly ? ':ro' : ''}`;
    const written = specSource(spec);
    let source: string;
    try {
      source = await realpath(m.source);
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        throw new MoatError(`The mount source ${written} (${m.source}) does not exist.`, {
          code: 'E_CONFIG',
          hint: `Create it, or remove "${spec}" from mounts in moat.yaml.`,
        });
      }
      if (code === 'ELOOP')
        throw new MoatError(`The mount source ${written} (${m.source}) is a loop of symbolic links.`, {
          code: 'E_REFUSED',
          hint: 'Check the workspace for links a run may have planted.',
        });
      throw new MoatError(`Cannot resolve the mount source ${written} (${m.source}): ${code ?? String(err)}.`, { code: 'E_CONFIG' });
    }
    if (UNSAFE_PATH.test(source)) {
      throw new MoatError(
        `The mount source ${written} resolves to ${JSON.stringify(source)}, which has a ":", "," or control character the engine cannot mount safely.`,
        {
          code: 'E_REFUSED',
          hint: 'Rename the folder, or remove the mount from moat.yaml.',
        },
      );
    }
    const writtenInside = inside(m.source, workspace) || inside(m.source, realWorkspace);
    const outside = writtenInside && !inside(source, realWorkspace);
    out.push({ spec, source, target: m.target, readOnly: m.readOnly, ...(outside ? { outside: true } : {}) });
  }
  return out;
}

/** The mounts to hand the engine: the resolved real sources. */
export function engineMounts(entries: readonly MountEntry[]): Mount[] {
  return entries.map((e) => ({ source: e.source, target: e.target, readOnly: e.readOnly }));
}
