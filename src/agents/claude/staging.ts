/**
 * Claude Code's files in the container user's home: `~/.claude.json` (onboarding done, /workspace
 * trusted, MCP servers) and `~/.claude/settings.json` (permission mode, plugins). Nothing here holds a
 * credential: the grant's placeholders are added by the credentials layer.
 */
import { mcpWithCwd } from '../common.js';
import type { AgentInvocation, AgentSettings, Staging } from '../types.js';

const WORKSPACE = '/workspace';
/**
 * Stands in for the last 20 characters of the run's placeholder API key in `customApiKeyResponses`,
 * replaced at start (the placeholder is minted per run, after staging). Claude Code otherwise asks
 * whether to use the key it found in the environment.
 */
export const API_KEY_SUFFIX_MARKER = 'MOAT_API_KEY_SUFFIX__';

function claudeJson(settings: AgentSettings, inv: AgentInvocation): Record<string, unknown> {
  const mcpServers: Record<string, unknown> = {};
  for (const [name, server] of Object.entries(settings.mcp ?? {})) mcpServers[name] = { type: 'stdio', ...mcpWithCwd(server) };
  return {
    numStartups: 1,
    installMethod: 'npm-global',
    autoUpdates: false,
    theme: 'dark',
    hasCompletedOnboarding: true,
    lastOnboardingVersion: settings.version ?? '2.1.331',
    hasSeenTasksHint: true,
    hasIdeOnboardingBeenShown: { vscode: true },
    shiftEnterKeyBindingInstalled: true,
    bypassPermissionsModeAccepted: inv.yolo,
    // "Make auto mode your default permission mode?" would stop the TUI at start.
    hasSeenAutoDefaultNudge: true,
    hasSeenAutoDefaultNotice: true,
    customApiKeyResponses: { approved: [API_KEY_SUFFIX_MARKER], rejected: [] },
    ...(Object.keys(mcpServers).length > 0 ? { mcpServers } : {}),
    projects: {
      [WORKSPACE]: {
        allowedTools: [],
        history: [],
        mcpContextUris: [],
        mcpServers: {},
        enabledMcpjsonServers: [],
        disabledMcpjsonServers: [],
        hasTrustDialogAccepted: true,
        hasCompletedProjectOnboarding: true,
        projectOnboardingSeenCount: 1,
        hasClaudeMdExternalIncludesApproved: false,
        hasClaudeMdExternalIncludesWarningShown: true,
      },
    },
  };
}

function claudeSettings(settings: AgentSettings, inv: AgentInvocation): Record<string, unknown> {
  const out: Record<string, unknown> = {
    permissions: { defaultMode: inv.yolo ? 'bypassPermissions' : 'default' },
    ...(inv.yolo ? { skipDangerousModePermissionPrompt: true } : {}),
  };
  if (settings.plugins && Object.keys(settings.plugins).length > 0) out.enabledPlugins = { ...settings.plugins };
  if (settings.marketplaces && Object.keys(settings.marketplaces).length > 0) out.extraKnownMarketplaces = { ...settings.marketplaces };
  return out;
}

function claudeEnv(): Record<string, string> {
  return {
    // Claude Code refuses --dangerously-skip-permissions as root unless it is told it runs in a sandbox.
    IS_SANDBOX: '1',
    DISABLE_AUTOUPDATER: '1',
    // No telemetry or error-reporting hosts to allow; the API still works.
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  };
}

const json = (v: unknown): string => `${JSON.stringify(v, null, 2)}\n`;

/** Settings Claude Code gets with `--settings` (moat.yaml's plugin choices), staged in the home. */
export const CLAUDE_FLAG_SETTINGS = '/home/moat/.claude/moat-settings.json';

export function stageClaude(settings: AgentSettings, inv: AgentInvocation): Staging {
  return {
    files: [
      { path: '.claude.json', content: json(claudeJson(settings, inv)), mode: 0o600 },
      { path: '.claude/settings.json', content: json(claudeSettings(settings, inv)), mode: 0o600 },
      ...(inv.pluginOverrides && Object.keys(inv.pluginOverrides).length > 0
        ? [{ path: '.claude/moat-settings.json', content: json({ enabledPlugins: { ...inv.pluginOverrides } }), mode: 0o600 }]
        : []),
    ],
    env: claudeEnv(),
  };
}
