/**
 * An agent run as a RunSpec: moat.yaml's agent section, the agent's grant (added when stored), its
 * dependency, its staged files and environment, and its command line; the rest is an ordinary run.
 */
import { loadWorkspaceConfig } from '../config/load.js';
import type { MoatHome } from '../home/paths.js';
import { checkWorkspace, prepareRun, type PrepareFlags } from '../run/prepare.js';
import type { RunSpec } from '../run/spec.js';
import { randomUUID } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { agentDependencies, agentGrants, type GrantLookup } from './common.js';
import { claudePlugins } from './claude/plugins.js';
import { sensitiveHostFolders } from '../run/sensitive-workspace.js';
import { claudeStartsNewConversation } from './claude/index.js';
import { canonicalWorkspace, sharedFolderNotice, transcriptFolder, transcriptMount } from './transcripts.js';
import type { AgentDefinition, AgentInvocation, AgentSettings } from './types.js';

export interface AgentRunDeps {
  home: MoatHome;
  env: NodeJS.ProcessEnv;
  /** The credential store lookup (defaults to the home's encrypted store). */
  lookup?: GrantLookup;
  /** The host user's home, where Claude Code's own settings and plugins are (defaults to $HOME). */
  hostHome?: string;
  /** Non-fatal problems (a host plugin that cannot be made available); defaults to stderr. */
  warn?: (msg: string) => void;
  /** --dry-run: the transcript folder is named, not created (and its one-time notice not spent). */
  dryRun?: boolean;
}

const stderrWarn = (msg: string): void => {
  process.stderr.write(`warning: ${msg}\n`);
};

export async function prepareAgentRun(
  agent: AgentDefinition,
  workspaceArg: string | undefined,
  flags: Omit<PrepareFlags, 'command'>,
  invocation: AgentInvocation,
  deps: AgentRunDeps,
): Promise<RunSpec> {
  // A new Claude Code conversation gets its id from moat, so the run's record names it.
  const inv =
    agent.name === 'claude' && invocation.sessionId === undefined && claudeStartsNewConversation(invocation)
      ? { ...invocation, sessionId: randomUUID() }
      : invocation;
  const warn = deps.warn ?? stderrWarn;
  const hostHome = deps.hostHome ?? deps.env.HOME ?? homedir();
  const workspace = await checkWorkspace(workspaceArg ?? '.');
  const { config } = await loadWorkspaceConfig(workspace);
  const settings: AgentSettings = config[agent.name] ?? {};
  let lookup = deps.lookup;
  if (!lookup) {
    const { CredentialStore } = await import('../credentials/store.js');
    const store = new CredentialStore(deps.home, { env: deps.env });
    lookup = (name) => store.get(name);
  }
  const added = await agentGrants(agent, [...(config.grants ?? []), ...(flags.grants ?? [])], lookup);
  // Claude Code: the host's and the project's enabled plugins (unless claude.host_plugins is false), their
  // installed files mounted read-only, merged under moat.yaml's.
  const plugins =
    agent.name === 'claude'
      ? await claudePlugins({
          settings,
          hostPlugins: config.claude?.host_plugins ?? true,
          workspace,
          hostHome,
          env: deps.env,
          warn,
          sensitive: await sensitiveHostFolders(hostHome, deps.home.root),
        })
      : undefined;
  // moat.yaml's own plugin choices also go to Claude Code as a --settings file, which outranks the
  // project's .claude/settings*.json (read by Claude Code itself inside the container).
  const overrides = agent.name === 'claude' && settings.plugins && Object.keys(settings.plugins).length > 0 ? settings.plugins : undefined;
  const run = overrides ? { ...inv, pluginOverrides: { ...overrides } } : inv;
  const staging = agent.stage(plugins ? { ...settings, plugins: plugins.plugins, marketplaces: plugins.marketplaces } : settings, run);
  const spec = await prepareRun(workspace, {
    ...flags,
    command: agent.containerCommand(run),
    grants: [...(flags.grants ?? []), ...added],
    extraDependencies: [...agentDependencies(agent, settings), ...(flags.extraDependencies ?? [])],
    homeFiles: [...staging.files, ...(plugins?.files ?? []), ...(flags.homeFiles ?? [])],
  });
  // The agent's variables sit below moat.yaml's env and -e, so a user can always override them.
  spec.env = { ...staging.env, ...plugins?.env, ...spec.env };
  // Each plugin folder by its real path (a linked ~/.claude resolved), as every mount source is given to the
  // engine and checked again just before the start (container/sources.ts).
  const pluginMounts = await Promise.all((plugins?.mounts ?? []).map(async (m) => ({ ...m, source: await realpath(m.source).catch(() => m.source) })));
  spec.mounts = [...spec.mounts, ...pluginMounts];
  // The conversation state lives on the host, so it outlives the container (and --resume finds it): only
  // this workspace's folder is mounted.
  const canonical = await canonicalWorkspace(workspace);
  const folder = transcriptFolder(agent.name, canonical, deps.home, settings.sync_logs, { userHome: hostHome, env: deps.env });
  const transcripts = await transcriptMount(folder, !deps.dryRun);
  spec.mounts = [...spec.mounts, transcripts];
  // The agent's own sources are checked again just before the start, as moat.yaml's are (mount-sources.ts).
  if (!deps.dryRun) spec.realSources = [...(spec.realSources ?? []), ...pluginMounts.map((m) => m.source), transcripts.source];
  // The user's own Claude Code reads what the run writes there: named after the run.
  if (folder.synced && agent.name === 'claude') spec.hostReadFolders = [{ dir: folder.dir, label: `your Claude Code project folder ${folder.dir}` }];
  const notice = deps.dryRun ? undefined : await sharedFolderNotice(folder, canonical, deps.home);
  if (notice) warn(notice);
  spec.agent = agent.name;
  return spec;
}
