/**
 * The moat.yaml schema (and the global ~/.moat/config.yaml schema).
 *
 * Every object is `.strict()` so a typo is an error, not a silently ignored key; every field carries
 * `.describe()` so the generated JSON Schema (schema/moat.schema.json) documents itself in editors.
 * Types come from `z.infer`; nothing downstream casts config to a type.
 */
import { z } from 'zod';
import { RUN_NAME_RE } from '../store/names.js';
import { parsePathRule, validateHostRulesShape, validatePattern } from '../gateway/policy.js';
import { POLICY_MODES, type NetworkPolicy } from '../network-policy.js';
import { dependenciesProblem, dependencyProblem } from '../deps/parse.js';
import { imageReferenceProblem } from '../image/reference.js';
import { SANDBOXES } from '../runtime/sandbox.js';
import { ENGINES } from '../runtime/engine.js';
import { MAX_PORTS, portNameProblem } from './ports.js';
import { secretReferenceProblem } from '../secret-reference.js';
import {
  DEFAULT_PIDS,
  ENV_NAME_RE,
  MAX_PIDS,
  MIN_CPUS,
  MIN_PIDS,
  parseSize,
  cpusProblem,
  envEntryProblem,
  envNameProblem,
  logLimitProblem,
  memoryProblem,
  mountProblem,
  pidsProblem,
  runNameProblem,
} from './rules.js';

/** A string checked by one of rules.ts's `…Problem` functions (the same ones the run flags use). */
const checked = (problem: (s: string) => string | undefined) =>
  z.string().superRefine((s, ctx) => {
    const p = problem(s);
    if (p) ctx.addIssue({ code: 'custom', message: p });
  });

/** The editors' patterns (JSON Schema) come from the same expression the checks use. */
const envName = checked(envNameProblem).meta({ pattern: ENV_NAME_RE.source });

const envRecord = z.record(envName, z.string().describe('Value of the variable.'));
const envList = z.array(
  checked(envEntryProblem)
    .meta({ pattern: `${ENV_NAME_RE.source.replace(/\$$/, '')}=` })
    .describe('"NAME=value".'),
);

const mount = z
  .string()
  .superRefine((s, ctx) => {
    const problem = mountProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('"source:target[:ro]". Relative sources are resolved against the workspace; target must be absolute.');

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

/** A value checked by the parser that applies it (one that throws an Error saying what is wrong). */
const parsedBy =
  <T>(parse: (value: T) => unknown) =>
  (value: T, ctx: z.RefinementCtx<T>): void => {
    try {
      parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
    }
  };

/** A host pattern (api.github.com, *.github.com, host:8443), checked by the gateway's own parser. */
const hostPattern = z.string().superRefine(parsedBy(validatePattern)).meta({ minLength: 1 });

/** A path rule ("allow GET /repos/**"), checked by the gateway's own parser. */
const pathRule = z.string().superRefine(parsedBy(parsePathRule));

const mcpServers = z.record(z.string().min(1), mcpServer).describe('MCP servers by name.');

const networkRule = z.union(
  [
    hostPattern.describe('Host pattern allowed in full, e.g. "api.github.com" or "*.example.com".'),
    z
      .record(
        hostPattern.describe('Host pattern.'),
        z
          .array(pathRule.describe('"allow|deny METHOD /path", e.g. "allow GET /repos/**".'))
          .describe('Request rules for this host, first match wins, e.g. "allow GET /repos/**".'),
      )
      .superRefine(parsedBy(validateHostRulesShape))
      .meta({ minProperties: 1, maxProperties: 1 })
      .describe('One host pattern mapped to its request rules.'),
  ],
  { error: 'expected a host pattern string or a mapping of host -> list of rules' },
);

const secretReference = checked(secretReferenceProblem).describe(
  'Where the value comes from: "op://vault/item/field" (1Password CLI), "ssm:///name" or "ssm://REGION/name" (AWS SSM Parameter Store), "env://HOST_VARIABLE" (the environment moat runs in).',
);

const secretEntry = z.union([
  secretReference,
  z
    .object({
      from: secretReference,
      hosts: z
        .array(hostPattern)
        .optional()
        .describe('Hosts the real value may be sent to (the gateway replaces the placeholder only in requests to these); none: it is never sent anywhere.'),
      expose: z
        .literal('env')
        .optional()
        .describe('"env": put the real value itself in the container\'s environment (any process there can read it; warned and audited).'),
    })
    .strict()
    .describe('A secret with the hosts its real value may reach.'),
]);

export const moatConfigSchema = z
  .object({
    name: checked(runNameProblem).meta({ pattern: RUN_NAME_RE.source }).optional().describe('Default run name.'),
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
    sandbox: z
      .enum(SANDBOXES, { error: 'expected "gvisor" or "runc"' })
      .optional()
      .describe(
        'The container runtime: "gvisor" (gVisor\'s runsc, a user-space kernel between the run and the host) or "runc" (the host\'s kernel, namespaces only). Default: gvisor when the engine has runsc registered, else runc with a notice. --sandbox and MOAT_SANDBOX override it; choosing runc here is approved by the user like mounts and grants.',
      ),
    snapshots: z
      .object({
        disabled: z.boolean().optional().describe('Take no workspace snapshots before and after runs (moat diff and moat rollback then have nothing to show).'),
        exclude: z
          .array(z.string().min(1))
          .optional()
          .describe('Extra paths left out of snapshots, in .gitignore syntax from the workspace root, e.g. "dist/" or "*.iso".'),
        max_files: z
          .number()
          .int()
          .min(1)
          .max(10_000_000)
          .optional()
          .describe('Most files and folders one snapshot records (default 200000); a workspace holding more gets no snapshot and says so.'),
        max_file_size: checked(snapshotSizeProblem)
          .optional()
          .describe('Files larger than this are recorded by size and time only, never read or stored (default "100m").'),
        max_bytes: checked(snapshotSizeProblem)
          .optional()
          .describe('Most bytes one snapshot reads from new or changed files (default "4g"); files past it are recorded like large files.'),
      })
      .strict()
      .optional()
      .describe('Workspace snapshots before and after every run (moat diff, moat rollback, moat snapshot).'),
    container: z
      .object({
        memory: checked(memoryProblem).optional().describe('Memory limit, e.g. "512m" or "2g".'),
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
          .superRefine((n, ctx) => {
            const p = pidsProblem(n);
            if (p) ctx.addIssue({ code: 'custom', message: p });
          })
          .meta({ type: 'integer', minimum: MIN_PIDS, maximum: MAX_PIDS })
          .optional()
          .describe(
            `Most processes and threads the container may have at once (default ${DEFAULT_PIDS}), so a fork bomb cannot exhaust the host's process ids. A change is approved by the user like mounts and grants.`,
          ),
        log_limit: checked(logLimitProblem)
          .optional()
          .describe(
            'Cap on the output moat stores for a run (default "256m"), e.g. "64m" or "1g"; past it the newest output is kept. Raising it needs your approval like mounts and grants.',
          ),
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
      .superRefine((specs, ctx) => {
        // Entries that install together (each entry's own problem is reported on its line above).
        if (!specs.every((s) => dependencyProblem(s) === undefined)) return;
        const problem = dependenciesProblem(specs);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe('Tools to install in the run image, e.g. "node@20".'),
    grants: z.array(z.string().min(1)).optional().describe('Credentials the run may use via the gateway, e.g. "github".'),
    secrets: z
      .record(envName, secretEntry)
      .optional()
      .describe(
        'Secrets resolved on the host when a run starts, by the container variable that carries their placeholder; the gateway puts the real value in requests to their hosts only.',
      ),
    network: z
      .object({
        policy: z.enum(POLICY_MODES).optional().describe('permissive: allow all hosts not denied; strict: allow only listed hosts.'),
        rules: z.array(networkRule).optional().describe('Allowed hosts, optionally with per-request rules.'),
        deny: z.array(hostPattern).optional().describe('Host patterns always refused.'),
      })
      .strict()
      .optional()
      .describe('Network policy enforced by the gateway.'),
    ports: z
      .record(
        checked(portNameProblem).describe('Service name: a lower-case DNS label (web, api), part of the host name web.RUN.localhost.'),
        z.number().int().min(1).max(65535).describe('The port the service listens on inside the run (127.0.0.1 or 0.0.0.0).'),
      )
      .refine((r) => Object.keys(r).length <= MAX_PORTS, { error: `at most ${MAX_PORTS} services per run` })
      .optional()
      .describe(
        'Services inside the run reachable from the host at http(s)://NAME.RUN.localhost:ROUTING_PORT/ (the first also at RUN.localhost), e.g. {web: 3000}.',
      ),
    claude: z
      .object({
        version: z.string().min(1).optional().describe('Claude Code version to install.'),
        mcp: mcpServers.optional(),
        plugins: z
          .record(z.string(), z.boolean())
          .optional()
          .describe('Plugins to enable (true) or disable (false), e.g. "name@marketplace": true; these win over the host\'s and the project\'s settings.'),
        marketplaces: z.record(z.string(), z.unknown()).optional().describe('Plugin marketplaces by name.'),
        host_plugins: z
          .boolean()
          .optional()
          .describe(
            "Also enable the plugins and marketplaces of your own Claude Code settings and the project's .claude/settings(.local).json (default true; false: only plugins/marketplaces above). Installed files on this machine are mounted read-only only for what your own settings or claude.plugins enable, never for what the project alone enables.",
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
type NetworkConfig = NonNullable<MoatConfig['network']>;

/** True when A and B are the same type (each assignable to the other, and no `any` on either side). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** moat.yaml's `network:` is the policy the gateway compiles (network-policy.ts), minus what flags add. */
const networkIsThePolicy: Same<NetworkConfig, Partial<Omit<NetworkPolicy, 'allowHosts'>>> = true;
void networkIsThePolicy;

export const globalConfigSchema = z
  .object({
    engine: z
      .enum(ENGINES)
      .optional()
      .describe(
        "The container engine runs use: docker, or podman (its Docker-compatible API, by default at /run/podman/podman.sock; DOCKER_HOST names another socket). A run refuses an engine that is not this one. Default: whichever engine DOCKER_HOST (or Docker's socket) answers with.",
      ),
    proxy: z
      .object({
        upstream: z
          .url({ error: 'expected a URL, e.g. "http://proxy.corp:3128"' })
          .optional()
          .describe('Corporate HTTP proxy the gateway sends traffic through.'),
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
    routing: z
      .object({
        port: z
          .number()
          .int()
          .min(1)
          .max(65535)
          .optional()
          .describe("Loopback port of the routing proxy that serves runs' ports (http and https on one listener; default 8080)."),
      })
      .strict()
      .optional()
      .describe("The routing proxy for runs' ports (moat.yaml ports:)."),
    records: z
      .object({
        trace_max_mib: z
          .number()
          .min(0.25)
          .max(1_048_576)
          .optional()
          .describe("Byte budget of each run's network.jsonl, in MiB (default 64); past it requests are counted, not listed."),
        audit_max_mib: z
          .number()
          .min(0.25)
          .max(1_048_576)
          .optional()
          .describe("Byte budget of each run's audit log, in MiB (default 64); past it entries are counted, not written, and the log still signs."),
      })
      .strict()
      .optional()
      .describe('Limits on what one run may record on this machine.'),
  })
  .strict()
  .describe('Moat global configuration (~/.moat/config.yaml).');

export type GlobalConfig = z.infer<typeof globalConfigSchema>;
