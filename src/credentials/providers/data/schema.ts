import { z } from 'zod';
import { parseHostPattern } from '../../../gateway/hosts.js';
import { isInternalHost } from '../../../gateway/addresses.js';
import { PROXY_ENV_NAMES, gatewayEnv } from '../../../gateway/transport.js';

/**
 * A credential provider as data: `~/.moat/providers/NAME.yaml`, and the built-in catalog in the same
 * format. Every field is checked here, so a file that parses can reach the gateway only as plain
 * `HeaderInjection`/`SecretSubstitution` data: hosts through the gateway's own host-pattern parser,
 * header names as HTTP tokens, formats free of control characters, env names outside moat's own.
 */

/** An HTTP header name (RFC 9110 token). */
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
// eslint-disable-next-line no-control-regex
const VALIDATE_PATH = /^\/[^\s\x00-\x1f\x7f]*$/;

/** Headers that frame or route the request: a provider may not set them. */
const FRAMING_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'expect',
  'proxy-authorization',
  'proxy-connection',
  'proxy-authenticate',
]);

/** Variables moat itself sets in every container, or that change how programs start: never a provider's. */
const RESERVED_ENV = new Set([
  ...Object.keys(gatewayEnv()),
  ...PROXY_ENV_NAMES.map((n) => n.toUpperCase()),
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'PWD',
  'OLDPWD',
  'TERM',
  'LANG',
  'TZ',
  'TMPDIR',
  'HOSTNAME',
  'IFS',
  'PS4',
  'ENV',
  'BASH_ENV',
  'CDPATH',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PERL5OPT',
  'RUBYOPT',
  'GIT_SSH_COMMAND',
  'GIT_CONFIG_GLOBAL',
  'SSH_AUTH_SOCK',
  'IS_SANDBOX',
]);
const RESERVED_ENV_PREFIXES = ['MOAT_', 'LD_', 'LC_', 'DYLD_', 'AWS_', 'GIT_CONFIG_'];

export function envNameProblem(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return `"${name}" is not a valid variable name: use capital letters, digits and "_" ([A-Z_][A-Z0-9_]*)`;
  const prefix = RESERVED_ENV_PREFIXES.find((p) => name.startsWith(p));
  if (RESERVED_ENV.has(name) || prefix)
    return `"${name}" is reserved by moat${prefix ? ` (every ${prefix}* variable)` : ''}: pick another name, e.g. ACME_TOKEN`;
  return undefined;
}

const headerName = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    if (CONTROL.test(v))
      ctx.addIssue({ code: 'custom', message: 'the header name holds a control character (CR, LF, …): write only the name, e.g. Authorization' });
    else if (!HEADER_TOKEN.test(v)) ctx.addIssue({ code: 'custom', message: `"${v}" is not a valid header name (letters, digits and !#$%&'*+.^_\`|~- only)` });
    else if (FRAMING_HEADERS.has(v.toLowerCase()))
      ctx.addIssue({ code: 'custom', message: `${v} frames or routes the request and cannot carry a credential: use e.g. Authorization` });
  })
  .describe('The request header that carries the credential, e.g. Authorization or PRIVATE-TOKEN.');

const format = z
  .string()
  .superRefine((v, ctx) => {
    if (CONTROL.test(v))
      ctx.addIssue({
        code: 'custom',
        message: 'the format holds a control character (CR, LF, …), which would split the header: e.g. format: "Bearer {token}"',
      });
    else if (!v.includes('{token}')) ctx.addIssue({ code: 'custom', message: 'the format has no {token}: e.g. format: "Bearer {token}"' });
    else if (/[{}]/.test(v.replaceAll('{token}', '')))
      ctx.addIssue({ code: 'custom', message: 'only {token} may appear in braces: e.g. format: "token {token}"' });
  })
  .describe('The header value, with {token} where the real token goes: "Bearer {token}", "token {token}", "{token}".');

/** A validate header's value: a format with {token}, or a constant (e.g. an API version header). */
const checkValue = z
  .string()
  .superRefine((v, ctx) => {
    if (CONTROL.test(v)) ctx.addIssue({ code: 'custom', message: 'the value holds a control character (CR, LF, …), which would split the header' });
    else if (/[{}]/.test(v.replaceAll('{token}', ''))) ctx.addIssue({ code: 'custom', message: 'only {token} may appear in braces: e.g. "Bearer {token}"' });
  })
  .describe('A header value of the check: {token} is the token; a value without it is sent as written.');

const hostPattern = z.string().superRefine((v, ctx) => {
  try {
    // A granted host is one the policy lets a run reach even on this machine (it counts as named), so a
    // provider file, which may come from anywhere, cannot open the host's own services or private network.
    const p = parseHostPattern(v);
    if (isInternalHost(p.host))
      ctx.addIssue({
        code: 'custom',
        message: `"${v}" is this machine or its private network, which a provider's token is never sent to; name the service's public host`,
      });
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `${(err as Error).message}` });
  }
});

const envName = z.string().superRefine((v, ctx) => {
  const problem = envNameProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const inject = z.union([
  z.object({ header: headerName, format: format.default('Bearer {token}') }).strict(),
  z
    .object({
      substitute: z
        .literal(true)
        .describe('Replace the placeholder with the token wherever it appears in a request to the hosts (headers, Basic, URL, bodies up to 1 MiB).'),
    })
    .strict(),
]);

export const providerFileSchema = z
  .object({
    description: z.string().max(200).optional().describe('One line shown by moat grant providers.'),
    hosts: z
      .array(hostPattern)
      .min(1)
      .describe('Hosts (policy pattern syntax: api.example.com, *.example.com, host:8443) the token is sent to, over TLS only.'),
    inject: inject.describe('How the gateway puts the token in: {header, format}, or {substitute: true}.'),
    placeholder: z
      .object({
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{0,32}$/, 'the prefix may hold only letters, digits, ".", "_" and "-" (at most 32)')
          .optional()
          .describe('The placeholder starts with this (the token format the tools check, e.g. lin_api_); default: the token’s own.'),
        length: z.number().int().min(20).max(512).optional().describe('Total length; default: the granted token’s length.'),
        suffix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{0,8}$/, 'the suffix may hold only letters, digits, ".", "_" and "-" (at most 8)')
          .optional()
          .describe('The placeholder ends with this (e.g. AA for Anthropic keys).'),
        charset: z.enum(['base62', 'hex', 'digits', 'base64url']).default('base62').describe('Characters of the random part.'),
      })
      .strict()
      .default({ charset: 'base62' }),
    env: z
      .union([envName, z.array(envName).min(1)])
      .transform((v) => (Array.isArray(v) ? v : [v]))
      .describe('Container variable(s) that carry the placeholder.'),
    validate: z
      .object({
        method: z.enum(['GET', 'POST', 'HEAD']).default('GET'),
        host: z.string().optional().describe('One of hosts (not a wildcard); default: the first exact one.'),
        path: z.string().regex(VALIDATE_PATH, 'the path starts with "/" and holds no spaces or control characters'),
        status: z.number().int().min(100).max(599).default(200),
        headers: z
          .record(headerName, checkValue)
          .optional()
          .describe('Headers of the check (default: the inject header); {token} is the token, which one of them must hold.'),
        body: z.string().max(4096).optional().describe('A JSON body for POST.'),
      })
      .strict()
      .optional()
      .describe('A request moat grant NAME sends over HTTPS to check the token.'),
    prompt: z.string().max(300).optional().describe('What moat grant NAME asks for (hidden input).'),
    label: z
      .string()
      .regex(/^[A-Za-z0-9 ._-]{1,40}$/, 'the label holds only letters, digits, spaces, ".", "_" and "-" (at most 40)')
      .optional()
      .describe('What messages call the token, e.g. "Acme API key" (default: "NAME token").'),
    hostEnv: z.array(envName).min(1).optional().describe('Built-in catalog only: host variables moat grant NAME takes the token from before it asks.'),
  })
  .strict()
  .superRefine((v, ctx) => {
    const fixedLength = (v.placeholder.prefix ?? '').length + (v.placeholder.suffix ?? '').length;
    if (
      (v.placeholder.prefix !== undefined || v.placeholder.suffix !== undefined) &&
      v.placeholder.length !== undefined &&
      v.placeholder.length - fixedLength < 20
    )
      ctx.addIssue({ code: 'custom', path: ['placeholder', 'length'], message: 'leave at least 20 random characters after the prefix' });
    if (v.prompt !== undefined && CONTROL.test(v.prompt)) ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'the prompt holds a control character' });
    if (v.description !== undefined && CONTROL.test(v.description))
      ctx.addIssue({ code: 'custom', path: ['description'], message: 'the description holds a control character' });
    if (v.validate) {
      const exact = v.hosts.filter((h) => !h.startsWith('*.'));
      const host = v.validate.host ?? exact[0];
      if (!host) ctx.addIssue({ code: 'custom', path: ['validate'], message: 'every host is a wildcard: name the host to check with validate.host' });
      else if (!exact.includes(host))
        ctx.addIssue({ code: 'custom', path: ['validate', 'host'], message: `"${host}" is not one of hosts (a wildcard does not count)` });
      if (v.validate.headers && !Object.values(v.validate.headers).some((h) => h.includes('{token}')))
        ctx.addIssue({ code: 'custom', path: ['validate', 'headers'], message: 'no header of the check holds {token}: e.g. Authorization: "Bearer {token}"' });
      if ('substitute' in v.inject && !v.validate.headers)
        ctx.addIssue({
          code: 'custom',
          path: ['validate'],
          message: 'with substitute: true, say where the check sends the token: validate.headers: {Authorization: "Bearer {token}"}',
        });
    }
  });

export type ProviderFile = z.infer<typeof providerFileSchema>;
