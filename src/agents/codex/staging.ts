/**
 * Codex's `~/.codex/config.toml`: approval policy and sandbox mode, /workspace trusted, the shell
 * environment inherited in full (so the proxy and CA variables reach the commands Codex runs), and MCP
 * servers under `[mcp_servers]`. Credentials are not here: an API key arrives as a placeholder
 * OPENAI_API_KEY, a ChatGPT sign-in as a placeholder auth.json, both from the credentials layer. The CA
 * variables (CODEX_CA_CERTIFICATE, SSL_CERT_FILE) come with the gateway's environment.
 */
import type { AgentInvocation, AgentSettings, Staging } from '../types.js';
import { encodeToml, type TomlTable } from './toml.js';

const WORKSPACE = '/workspace';

export function codexConfig(settings: AgentSettings, inv: AgentInvocation): TomlTable {
  const mcp: TomlTable = {};
  for (const [name, s] of Object.entries(settings.mcp ?? {})) {
    mcp[name] = {
      command: s.command,
      ...(s.args && s.args.length > 0 ? { args: [...s.args] } : {}),
      ...(s.cwd ? { cwd: s.cwd } : {}),
      ...(s.env && Object.keys(s.env).length > 0 ? { env: { ...s.env } } : {}),
    };
  }
  return {
    // Inside moat's container Codex's own sandbox only gets in the way: the container is the sandbox.
    approval_policy: inv.yolo ? 'never' : 'on-request',
    sandbox_mode: inv.yolo ? 'danger-full-access' : 'workspace-write',
    projects: { [WORKSPACE]: { trust_level: 'trusted' } },
    shell_environment_policy: { inherit: 'all' },
    ...(Object.keys(mcp).length > 0 ? { mcp_servers: mcp } : {}),
  };
}

export function stageCodex(settings: AgentSettings, inv: AgentInvocation): Staging {
  return {
    files: [{ path: '.codex/config.toml', content: encodeToml(codexConfig(settings, inv)), mode: 0o600 }],
    env: {},
  };
}
