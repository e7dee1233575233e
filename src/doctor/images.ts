/** moat's cached images (count, size, the default base image) and the agent CLI versions configured or cached. */
import { plural } from './format.js';
import { bytes } from '../term/units.js';
import { loadWorkspaceConfig } from '../config/load.js';
import { findEntry } from '../deps/registry.js';
import { DEFAULT_BASE_IMAGE } from '../image/dockerfile.js';
import { statusCode } from '../runtime/docker/errors.js';
import { LABEL_HOME, LABEL_MANAGED } from '../runtime/types.js';
import type { AgentName } from '../store/types.js';
import { EngineUnavailable } from './engine-probe.js';
import { withEngine } from './engine.js';
import { ok, warn, type Check, type DoctorContext } from './types.js';

interface ImageRow {
  Id: string;
  Size: number;
  Labels?: Record<string, string> | null;
  RepoTags?: string[] | null;
}

const tagged = (i: ImageRow): boolean => (i.RepoTags ?? []).some((t) => t !== '<none>:<none>');

/** Every moat image on the engine: images are content-addressed, so a run uses one whichever home built it. */
const moatImages = (ctx: DoctorContext): Promise<ImageRow[]> =>
  ctx.engine.shared<ImageRow[]>('/images/json', { filters: JSON.stringify({ label: [`${LABEL_MANAGED}=true`] }) });

export const imagesCheck: Check = {
  name: 'images',
  onTimeout: { detail: 'the Docker engine did not list the images', fix: 'sudo systemctl restart docker' },
  run: (ctx) =>
    withEngine('images', ctx, async () => {
      const images = await moatImages(ctx);
      const size = images.reduce((a, i) => a + (i.Size || 0), 0);
      const here = images.filter((i) => i.Labels?.[LABEL_HOME] === ctx.home.root).length;
      const untagged = images.filter((i) => !tagged(i)).length;
      const cached =
        images.length === 0
          ? 'no moat image cached yet (the first run builds one)'
          : `${plural(images.length, 'moat image')} (${bytes(size)}; ${here} built by this home${untagged > 0 ? `, ${untagged} untagged` : ''})`;
      let base = true;
      try {
        await ctx.engine.json(`/images/${encodeURIComponent(DEFAULT_BASE_IMAGE)}/json`);
      } catch (err) {
        if (statusCode(err) !== 404) throw err;
        base = false;
      }
      if (!base) {
        return warn(
          'images',
          `${cached}; the base image ${DEFAULT_BASE_IMAGE} is missing (a first build pulls it)`,
          `docker pull ${DEFAULT_BASE_IMAGE} (without a registry: bash scripts/setup.sh builds it locally)`,
        );
      }
      return ok('images', `${cached}; base image ${DEFAULT_BASE_IMAGE} present`);
    }),
};

/** The agents moat installs, by dependency and the npm package whose version a build step names. */
const AGENTS = [
  { key: 'claude', title: 'Claude Code', dep: 'claude-code', pkg: '@anthropic-ai/claude-code' },
  { key: 'codex', title: 'Codex', dep: 'codex', pkg: '@openai/codex' },
] as const satisfies ReadonlyArray<{ key: AgentName; title: string; dep: string; pkg: string }>;

/** The versions of `pkg` that the build steps of `history` installed. */
export function versionsInHistory(history: ReadonlyArray<{ CreatedBy?: string }>, pkg: string): string[] {
  const re = new RegExp(`${pkg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}@([0-9A-Za-z.+~^-]+)`, 'g');
  const out = new Set<string>();
  for (const h of history) for (const m of (h.CreatedBy ?? '').matchAll(re)) if (m[1]) out.add(m[1]);
  return [...out];
}

async function cachedVersions(ctx: DoctorContext): Promise<Map<string, Set<string>> | undefined> {
  try {
    await ctx.engine.about();
  } catch (err) {
    if (err instanceof EngineUnavailable) return undefined;
    throw err;
  }
  const found = new Map<string, Set<string>>(AGENTS.map((a) => [a.pkg, new Set<string>()]));
  const queue = (await moatImages(ctx)).filter(tagged);
  // A few at a time: a loaded engine answers each history in a fraction of a second.
  const worker = async (): Promise<void> => {
    for (let img = queue.shift(); img; img = queue.shift()) {
      const history = await ctx.engine.json<Array<{ CreatedBy?: string }>>(`/images/${encodeURIComponent(img.Id)}/history`);
      for (const a of AGENTS) for (const v of versionsInHistory(history, a.pkg)) found.get(a.pkg)?.add(v);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return found;
}

export const agentsCheck: Check = {
  name: 'agents',
  onTimeout: { detail: 'the Docker engine did not show the image history', fix: 'sudo systemctl restart docker', status: 'warn' },
  async run(ctx) {
    let workspace: Partial<Record<AgentName, string>> = {};
    let note = '';
    try {
      const { config, file } = await loadWorkspaceConfig(ctx.cwd);
      if (file)
        workspace = { ...(config.claude?.version ? { claude: config.claude.version } : {}), ...(config.codex?.version ? { codex: config.codex.version } : {}) };
    } catch {
      note = "; this folder's moat.yaml is invalid (moat run shows where)";
    }
    const cached = await cachedVersions(ctx);
    const parts = AGENTS.map((a) => {
      const pinned = findEntry(a.dep)?.defaultVersion ?? '?';
      const want = workspace[a.key];
      const configured = want && want !== pinned ? `${want} (this workspace's moat.yaml; moat's default ${pinned})` : `${pinned} (moat's default)`;
      const have = cached ? [...(cached.get(a.pkg) ?? [])].sort() : undefined;
      const cache = have === undefined ? 'cache not checked' : have.length === 0 ? 'not cached (the first run builds it)' : `cached: ${have.join(', ')}`;
      return `${a.title} ${configured}, ${cache}`;
    });
    return ok('agents', parts.join('; ') + note);
  },
};
