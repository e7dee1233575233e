/**
 * The moat.yaml schema (and the global ~/.moat/config.yaml schema).
 *
 * Every object is `.strict()` so a typo is an error, not a silently ignored key; every field carries
 * `.describe()` so the generated JSON Schema (schema/moat.schema.json) documents itself in editors.
 * Types come from `z.infer`; nothing downstream casts config to a type.
 */
import { z } from 'zod';
import { validatePattern } from '../gateway/policy.js';
import { dependencyProblem } from '../deps/grammar.js';
import { imageReferenceProblem } from '../image/reference.js';
import {
  DEFAULT_PIDS, ENV_NAME_RE, parseSize, MAX_PIDS, MIN_CPUS, MIN_PIDS, NETWORK_RULE_RE, RUN_NAME_RE, cpusProblem, logLimitProblem, memoryProblem, mountProblem,
} from './rules.js';

const envName = z
  .string()
  .regex(ENV_NAME_RE, { error: 'invalid environment variable name (use letters, digits and _, not starting with a digit)' });

const envRecord = z.record(envName, z.string().describe('Value of the variable.'));
const envList = z.array(
  z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*=/, {
      error: 'expected "NAME=value" with a valid variable name (letters, digits and _, not starting with a digit)',
    })
    .describe('"NAME=value".'),
);

const mount = z
  .string()
  .superRefine((s, ctx) => {
    const problem = mountProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('"source:target[:ro]". Relative sources are resolved against the workspace; target must be absolute.');

/** A string checked by one of rules.ts's `…Problem` functions (the same ones the run flags use). */
const checked = (problem: (s: string) => string | undefined) => z.string().superRefine((s, ctx) => {
  const p = problem(s);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

/**
 * A key moat will support but does not yet: refused with a clear message rather than accepted and ignored.
 * `z.never()` so editors flag it too.
 */
const notSupportedYet = (what: string) => z
  .never({ error: `${what} is not supported yet; remove it (moat would otherwise ignore it)` })
  .optional()
  .describe(`Not supported yet: ${what}. moat refuses a moat.yaml that sets it.`);

/** A snapshot limit: a size such as "100m" or "4g". */
const snapshotSizeProblem = (t: string): string | undefined => (parseSize(t) === undefined ? 'expected a size like "100m" or "4g"' : undefined);

const mcpServer = z
  .object({
    command: z.string().min(1).describe('Executable that starts the MCP server (inside the container).'),
    args: z.array(z.string()).optional().describe('Arguments passed to the command.'),
    env: z.record(envName, z.string()).optional().describe('Environment variables for the server process.'),
    cwd: z.string().optional().describe('Working directory of the server process.'),
  })
  .strict()
  .describe('A local (stdio) MCP server.');

/** A host pattern (api.github.com, *.github.com, host:8443), checked by the gateway's own parser. */
const hostPattern = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    try {
      validatePattern(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  });

const mcpServers = z.record(z.string().min(1), mcpServer).describe('MCP servers by name.');

const networkRule = z.union(
  [
    hostPattern.describe('Host pattern allowed in full, e.g. "api.github.com" or "*.example.com".'),
    z
      .record(
        hostPattern.describe('Host pattern.'),
        z
          .array(z.string().regex(NETWORK_RULE_RE, { error: 'expected "allow|deny METHOD /path", e.g. "allow GET /repos/**"' }))
          .describe('Request rules for this host, first match wins, e.g. "allow GET /repos/**".'),
      )
      .describe('Host pattern mapped to request rules.'),
  ],
  { error: 'expected a host pattern string or a mapping of host -> list of rules' },
);

export const moatConfigSchema = z
  .object({
    name: z
      .string()
      .regex(RUN_NAME_RE, { error: 'run name must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits, dashes)' })
      .optional()
      .describe('Default run name.'),
    command: z
      .union([z.string().min(1), z.array(z.string()).min(1)], { error: 'expected a string or a list of strings' })
      .optional()
      .describe('Command to run in the container: a shell string or an argv list.'),
    interactive: z.boolean().optional().describe('Attach a TTY and stdin to the run.'),
    env: z
      .union([envRecord, envList], { error: 'expected a mapping NAME: value or a list of "NAME=value" strings' })
      .optional()
      .describe('Environment variables for the container: a mapping or a list of "NAME=value".'),
    mounts: z.array(mount).optional().describe('Extra bind mounts, "source:target[:ro]".'),
    base_image: z
      .string()
      .min(1)
      .superRefine((s, ctx) => {
        const problem = imageReferenceProblem(s);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('Base image the run image is built from, an image reference such as "debian:bookworm-slim" ([registry[:port]/]name[:tag][@digest]).'),
    snapshots: z
      .object({
        disabled: z.boolean().optional().describe('Take no workspace snapshots before and after runs (moat diff and moat rollback then have nothing to show).'),
        exclude: z.array(z.string().min(1)).optional().describe('Extra paths left out of snapshots, in .gitignore syntax from the workspace root, e.g. "dist/" or "*.iso".'),
        max_files: z.number().int().min(1).max(10_000_000).optional().describe('Most files and folders one snapshot records (default 200000); a workspace holding more gets no snapshot and says so.'),
        max_file_size: checked(snapshotSizeProblem).optional().describe('Files larger than this are recorded by size and time only, never read or stored (default "100m").'),
        max_bytes: checked(snapshotSizeProblem).optional().describe('Most bytes one snapshot reads from new or changed files (default "4g"); files past it are recorded like large files.'),
      })
      .strict()
      .optional()
      .describe('Workspace snapshots before and after every run (moat diff, moat rollback, moat snapshot).'),
    container: z
      .object({
        memory: checked(memoryProblem)
          .optional()
          .describe('Memory limit, e.g. "512m" or "2g".'),
        cpus: z
          .number()
          .superRefine((n, ctx) => {
            const p = cpusProblem(n);
            if (p) ctx.addIssue({ code: 'custom', message: p });
          })
          .meta({ minimum: MIN_CPUS })
          .optional()
          .describe('CPU limit (may be fractional), e.g. 2 or 0.5.'),
        pids: z
          .number()
          .int()
          .min(MIN_PIDS, { error: `expected at least ${MIN_PIDS} processes` })
          .max(MAX_PIDS, { error: `expected at most ${MAX_PIDS} processes` })
          .optional()
          .describe(`Most processes and threads the container may have at once (default ${DEFAULT_PIDS}), so a fork bomb cannot exhaust the host's process ids. A change is approved by the user like mounts and grants.`),
        log_limit: checked(logLimitProblem)
          .optional()
          .describe('Cap on the output moat stores for a run (default "256m"), e.g. "64m" or "1g"; past it the newest output is kept. Raising it needs your approval like mounts and grants.'),
      })
      .strict()
      .optional()
      .describe('Container resource limits.'),
    dependencies: z
      .array(
        z
          .string()
          .min(1)
          .superRefine((s, ctx) => {
            const problem = dependencyProblem(s);
            if (problem) ctx.addIssue({ code: 'custom', message: problem });
          })
          .describe('"name[@version]", "npm:<package>[@version]", "apt:<package>[=version]" or "pip:<package>[==version]".'),
      )
      .optional()
      .describe('Tools to install in the run image, e.g. "node@20".'),
    grants: z.array(z.string().min(1)).optional().describe('Credentials the run may use via the gateway, e.g. "github".'),
    network: z
      .object({
        policy: z.enum(['permissive', 'strict']).optional().describe('permissive: allow all hosts not denied; strict: allow only listed hosts.'),
        rules: z.array(networkRule).optional().describe('Allowed hosts, optionally with per-request rules.'),
        deny: z.array(hostPattern).optional().describe('Host patterns always refused.'),
      })
      .strict()
      .optional()
      .describe('Network policy enforced by the gateway.'),
    secrets: notSupportedYet('secrets: (environment variables filled from secret references)'),
    ports: notSupportedYet('ports: (exposing container ports)'),
    claude: z
      .object({
        version: z.string().min(1).optional().describe('Claude Code version to install.'),
        mcp: mcpServers.optional(),
        plugins: z.record(z.string(), z.boolean()).optional().describe('Plugins to enable (true) or disable (false), e.g. "name@marketplace": true; these win over the host\'s and the project\'s settings.'),
        marketplaces: z.record(z.string(), z.unknown()).optional().describe('Plugin marketplaces by name.'),
        host_plugins: z
          .boolean()
          .optional()
          .describe(
            'Also enable the plugins and marketplaces of your own Claude Code settings and the project\'s .claude/settings(.local).json (default true; false: only plugins/marketplaces above). Installed files on this machine are mounted read-only only for what your own settings or claude.plugins enable, never for what the project alone enables.',
          ),
        sync_logs: z.boolean().optional().describe('Copy session transcripts back to the host.'),
      })
      .strict()
      .optional()
      .describe('Claude Code settings.'),
    codex: z
      .object({
        version: z.string().min(1).optional().describe('Codex CLI version to install.'),
        mcp: mcpServers.optional(),
        sync_logs: z.boolean().optional().describe('Copy session logs back to the host.'),
      })
      .strict()
      .optional()
      .describe('Codex CLI settings.'),
  })
  .strict()
  .describe('Moat workspace configuration (moat.yaml).');

export type MoatConfig = z.infer<typeof moatConfigSchema>;
export type McpServerConfig = z.infer<typeof mcpServer>;
export type NetworkRule = z.infer<typeof networkRule>;
export type NetworkConfig = NonNullable<MoatConfig['network']>;

export const globalConfigSchema = z
  .object({
    proxy: z
      .object({
        upstream: z.url({ error: 'expected a URL, e.g. "http://proxy.corp:3128"' }).optional().describe('Corporate HTTP proxy the gateway sends traffic through.'),
      })
      .strict()
      .optional()
      .describe('Outbound proxy settings.'),
    build: z
      .object({
        ca_certs: z.string().min(1).optional().describe('Path to a PEM bundle of extra CA certificates trusted during image builds.'),
        allow_hosts: z
          .array(hostPattern)
          .optional()
          .describe('Hosts image builds may reach besides the registries their recipe needs (a private mirror, e.g. "apt.corp.example" or "*.corp.example").'),
      })
      .strict()
      .optional()
      .describe('Image build settings.'),
    records: z
      .object({
        trace_max_mib: z.number().min(0.25).max(1_048_576).optional().describe("Byte budget of each run's network.jsonl, in MiB (default 64); past it requests are counted, not listed."),
        audit_max_mib: z.number().min(0.25).max(1_048_576).optional().describe("Byte budget of each run's audit log, in MiB (default 64); past it entries are counted, not written, and the log still signs."),
      })
      .strict()
      .optional()
      .describe('Limits on what one run may record on this machine.'),
  })
  .strict()
  .describe('Moat global configuration (~/.moat/config.yaml).');

export type GlobalConfig = z.infer<typeof globalConfigSchema>;
