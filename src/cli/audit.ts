import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { InvalidArgumentError, Option } from '@commander-js/extra-typings';
import type { CommandUnknownOpts } from '@commander-js/extra-typings';
import pc from 'picocolors';
import type { AuditReport, AuditType } from '../audit/index.js';
import {
  AUDIT_TYPES,
  ENTRIES_FILE,
  JsonlAuditStore,
  exportBundle,
  isAuditType,
  keyFingerprint,
  listEntries,
  loadOrCreateSigner,
  loadPublicKey,
  prove,
  signingKeyPaths,
  verifyDocumentFile,
  verifyStore,
} from '../audit/index.js';
import { MoatError, errnoCode } from '../errors.js';
import type { MoatHome } from '../home/paths.js';
import { jsonFor, textFor } from '../term/sanitize.js';
import { Timeline } from './audit-timeline.js';
import { example } from './help.js';
import { writeOut } from './json.js';
import { paged } from './pager.js';

export interface AuditCommandContext {
  home: MoatHome;
  /** `live`: the run has not ended (its container runs); an ended run's log must be closed to verify. */
  resolveRunDir(ref: string | undefined): Promise<{ id: string; dir: string; live?: boolean }>;
  /** Output sinks (default: process.stdout / process.stderr). */
  stdout?: (s: string) => void;
  stderr?: (s: string) => void;
}

const MARK = { ok: '[ok]  ', fail: '[FAIL]', warn: '[warn]', skip: '[skip]' } as const;

/** The human report: one line per check, counts by type, first failure, verdict. */
export function formatReport(r: AuditReport, color = pc.isColorSupported, safe: (s: string) => string = (s) => s): string {
  const c = pc.createColors(color);
  const paint = { ok: c.green, fail: c.red, warn: c.yellow, skip: c.dim } as const;
  const what = r.kind === 'proof' ? 'inclusion proof for run' : 'audit log of run';
  const lines = [`${what} ${safe(r.runId) || '?'}: ${r.entries} entries, ${r.checkpoints} checkpoint(s)${r.keyId ? `, key ${r.keyId}` : ''}`];
  const width = Math.max(...r.checks.map((k) => k.name.length));
  for (const k of r.checks) {
    const at = k.status === 'fail' && k.firstFailingSeq !== undefined ? ` (first failing seq ${k.firstFailingSeq})` : '';
    lines.push(`${paint[k.status](MARK[k.status])} ${k.name.padEnd(width)}  ${safe(k.message)}${at}`);
  }
  const counts = AUDIT_TYPES.filter((t) => r.countsByType[t] > 0).map((t) => `${t} ${r.countsByType[t]}`);
  lines.push(`entries by type: ${counts.length > 0 ? counts.join(', ') : 'none'}`);
  if (r.firstFailure) {
    const f = r.firstFailure;
    lines.push(`first failure: ${f.seq === undefined ? '' : `seq ${f.seq}: `}${safe(f.problem)}: ${safe(f.message)}`);
  }
  lines.push(
    !r.ok
      ? c.red('verdict: FAIL — the record does not verify')
      : r.completeness === 'complete-with-recovery'
        ? c.yellow('verdict: OK with recovery — the record is intact and closed, but a writer died: see the recovery line')
        : r.completeness === 'in-progress'
          ? c.green('verdict: OK so far — the run is in progress and its log is not closed yet')
          : c.green('verdict: OK — the record is intact'),
  );
  return `${lines.join('\n')}\n`;
}

function parseTypes(value: string | undefined): AuditType[] | undefined {
  if (value === undefined) return undefined;
  const types = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
  const bad = types.filter((t) => !isAuditType(t));
  if (bad.length > 0) throw new MoatError(`unknown audit event type ${bad.join(', ')}`, { code: 'E_USAGE', hint: `use one of: ${AUDIT_TYPES.join(', ')}` });
  return types as AuditType[];
}

/** --type checked while the command line is read, so the error names the flag. */
function typesArg(value: string): string {
  const bad = value
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t.length > 0 && !isAuditType(t));
  if (bad.length > 0 || value.trim() === '') throw new InvalidArgumentError(`Expected event types from: ${AUDIT_TYPES.join(', ')}.`);
  return value;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MoatError(`${what} ${path} does not exist`, { code: 'E_NOT_FOUND' });
    throw err;
  }
}

/** Verify a bundle or proof file, streamed (an exported bundle can be larger than a string may be). */
async function verifyFile(path: string, key: string | undefined): Promise<AuditReport> {
  try {
    return await verifyDocumentFile(path, key === undefined ? {} : { key });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MoatError(`file ${path} does not exist`, { code: 'E_NOT_FOUND' });
    throw err;
  }
}

async function openRun(ctx: AuditCommandContext, ref: string | undefined): Promise<{ store: JsonlAuditStore; live: boolean | undefined }> {
  const run = await ctx.resolveRunDir(ref);
  const store = new JsonlAuditStore(run.dir, run.id);
  try {
    await stat(store.entriesPath);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new MoatError(`run ${run.id} has no audit log (${ENTRIES_FILE} is missing)`, { code: 'E_AUDIT' });
    throw err;
  }
  return { store, live: run.live };
}

async function homeKey(ctx: AuditCommandContext): Promise<{ key: KeyObject; pem: string }> {
  const key = await loadPublicKey(ctx.home);
  if (!key) {
    throw new MoatError(`no audit signing key in ${ctx.home.auditDir}`, {
      code: 'E_AUDIT',
      hint: `a run signs with the key of the moat home it ran in; verify its bundle with \`moat audit verify FILE --key PUBKEY\``,
    });
  }
  return { key, pem: key.export({ type: 'spki', format: 'pem' }).toString() };
}

export function registerAuditCommand(program: CommandUnknownOpts, ctx: AuditCommandContext): void {
  const out = ctx.stdout ?? ((s: string) => void process.stdout.write(s));
  const err = ctx.stderr ?? ((s: string) => void process.stderr.write(s));
  /** Like out, but waits for stdout to drain, so a long listing stays bounded in memory. */
  const write = async (s: string): Promise<void> => {
    if (ctx.stdout) ctx.stdout(s);
    else await writeOut(s);
  };
  // Event data and report messages can carry a run's text: neutralised on a terminal, unchanged otherwise.
  const safe = textFor(process.stdout);
  const json = jsonFor(process.stdout);
  const report = (r: AuditReport, asJson: boolean): void => {
    out(asJson ? `${json(JSON.stringify(r))}\n` : formatReport(r, pc.isColorSupported, safe));
    if (!r.ok) process.exitCode = 1;
  };

  const audit = program
    .command('audit')
    .description("verify a run's signed audit log, list its events, export it or prove one entry")
    .argument('[run]', 'run id or name (default: the latest run)')
    .option('--json', 'print one JSON object')
    .option('--export <file>', 'write a self-contained bundle for offline verification')
    .option('--events', 'list the recorded events instead of verifying')
    .addOption(new Option('--type <types>', `with --events: only these types (comma-separated: ${AUDIT_TYPES.join(', ')})`).argParser(typesArg))
    .option('--no-pager', 'never through a pager (on a terminal the --events list goes through $MOAT_PAGER, $PAGER or less)')
    .action(async (ref, opts) => {
      const types = parseTypes(opts.type);
      const { store, live } = await openRun(ctx, ref);
      if (opts.events) {
        // Streamed: the same text as JSON.stringify({ runId, entries }), one entry at a time.
        if (opts.json) {
          await write(`{"runId":${JSON.stringify(store.runId)},"entries":[`);
          let n = 0;
          for await (const e of listEntries(store, types)) await write(`${n++ === 0 ? '' : ','}${json(JSON.stringify(e))}`);
          await write(']}\n');
          return;
        }
        // The timeline pages on a terminal as git log does.
        await paged(opts.pager && !ctx.stdout, async () => {
          const timeline = new Timeline(safe);
          for await (const e of listEntries(store, types)) await write(timeline.line(e));
        });
        return;
      }
      if (types)
        throw new MoatError('--type filters the --events listing', {
          code: 'E_USAGE',
          hint: `moat audit ${ref ?? ''} --events --type ${opts.type ?? ''}`.replace(/\s+/g, ' '),
        });
      const { key, pem } = await homeKey(ctx);
      // A run that has ended must have a closed log, whoever still holds its lock (a stopped daemon, a reused pid).
      const r = await verifyStore(store, key, live === false ? { inProgress: false } : {});
      if (opts.export) {
        const n = await exportBundle(store, pem, opts.export);
        if (!opts.json) err(`exported ${n.entries} entries and ${n.checkpoints} checkpoint(s) to ${opts.export}\n`); // --json: only JSON (docs/json.md)
      }
      report(r, opts.json === true);
    });
  example(audit, ['moat audit', 'moat audit brave-otter --events --type network', 'moat audit brave-otter --export audit.json']);

  // Unless the root program enables positional options, commander hands `audit verify f --json` to
  // audit's own --json; accept it from either.
  const wantJson = (own: boolean | undefined): boolean => own === true || audit.opts().json === true;

  const verify = audit
    .command('verify')
    .description('verify an exported bundle or an inclusion proof offline')
    .argument('<file>', 'bundle or proof JSON')
    .option('--key <pubkey>', 'trusted public key: a PEM file (from `moat audit key`) or PEM text')
    .option('--json', 'print one JSON object')
    .action(async (file, opts) => {
      const key = opts.key === undefined ? undefined : opts.key.includes('-----BEGIN') ? opts.key : await readText(opts.key, 'key file');
      report(await verifyFile(file, key), wantJson(opts.json));
    });
  example(verify, ['moat audit verify audit.json --key moat-audit.pub']);

  const prove_ = audit
    .command('prove')
    .description('print an inclusion proof (JSON) of one entry against the signed root')
    .argument('<run-or-seq>', 'run id, or the seq when the run is omitted')
    .argument('[seq]', 'entry sequence number')
    .option('--json', 'print the proof on one line (it is JSON either way)')
    .action(async (a, b, opts) => {
      const ref = b === undefined ? undefined : a;
      const seqText = b ?? a;
      const seq = Number(seqText);
      if (!/^[1-9][0-9]*$/.test(seqText) || !Number.isSafeInteger(seq))
        throw new MoatError(`"${seqText}" is not an entry number`, { code: 'E_USAGE', hint: 'moat audit prove [run] <seq>' });
      const { store } = await openRun(ctx, ref);
      out(`${JSON.stringify(await prove(store, seq, (await homeKey(ctx)).pem), null, wantJson(opts.json) ? undefined : 2)}\n`);
    });
  example(prove_, ['moat audit prove brave-otter 12 > proof.json', 'moat audit verify proof.json --key moat-audit.pub']);

  const key = audit
    .command('key')
    .description("print this moat home's audit public key (created on first use)")
    .option('--json', 'print one JSON object')
    .action(async (opts) => {
      const signer = await loadOrCreateSigner(ctx.home);
      const path = signingKeyPaths(ctx.home).pub;
      if (wantJson(opts.json)) out(`${JSON.stringify({ keyId: keyFingerprint(signer.publicKeyPem), publicKey: signer.publicKeyPem, path })}\n`);
      else {
        out(signer.publicKeyPem.endsWith('\n') ? signer.publicKeyPem : `${signer.publicKeyPem}\n`);
        err(`${signer.keyId} (${path})\n`);
      }
    });
  example(key, ['moat audit key > moat-audit.pub']);
}
