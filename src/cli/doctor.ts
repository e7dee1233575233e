import type { Command } from '@commander-js/extra-typings';
import { example } from './help.js';
import pc from 'picocolors';
import { forOut, type CliContext } from './context.js';
import { printJson } from './json.js';
import { MoatError, type ErrorCode } from '../errors.js';
import type { CheckResult } from '../doctor/index.js';

const LABEL = { ok: pc.green('OK  '), warn: pc.yellow('WARN'), fail: pc.red('FAIL') } as const;

/** `moat doctor [--json]`: every check with OK / WARN / FAIL and the fix for each problem; exit 1 on a FAIL. */
export function registerDoctorCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('doctor')
    .description('check the engine, sandbox runtime, daemon, CA, key and grants, images, agents, extra CAs and disk use, with the fix for each problem')
    .option('--json', 'print one JSON document {checks:[{name,status,detail,fix?}]}')
    .action(async (o) => {
      const { doctor, exitCodeOf } = await import('../doctor/index.js');
      const checks = await doctor({ home: ctx.home, env: ctx.env, cwd: process.cwd() });
      process.exitCode = exitCodeOf(checks);
      if (o.json) {
        await printJson({ checks });
        // A failing check also makes the error document on stderr (docs/json.md), after the checks on stdout.
        const failed = checks.filter((c) => c.status === 'fail');
        if (failed[0]) throw doctorFailure(failed[0], failed.length);
        return;
      }
      const width = Math.max(...checks.map((c) => c.name.length));
      for (const c of checks) {
        process.stdout.write(`${LABEL[c.status]}  ${pc.bold(c.name.padEnd(width))}  ${forOut(c.detail)}\n`);
        if (c.fix) process.stdout.write(`${' '.repeat(width + 8)}${pc.dim('fix:')} ${forOut(c.fix)}\n`);
      }
      const n = (s: string): number => checks.filter((c) => c.status === s).length;
      process.stdout.write(`${n('ok')} ok, ${n('warn')} warning${n('warn') === 1 ? '' : 's'}, ${n('fail')} failed\n`);
    });
  example(cmd, ['moat doctor', 'moat doctor --json']);
}

/** The kind of failure a failing check is, for the error document's code. */
function failureCode(check: string): ErrorCode {
  if (check === 'engine') return 'E_ENGINE_UNREACHABLE';
  if (check === 'sandbox') return 'E_ENGINE';
  if (check === 'daemon') return 'E_DAEMON';
  if (check === 'ca' || check === 'routing-ca' || check === 'key') return 'E_REFUSED';
  if (check.startsWith('grant:')) return 'E_CREDENTIAL';
  return 'E_CONFIG';
}

/** `moat doctor --json` with a FAIL: one error document naming the first failing check and its fix (exit 1). */
function doctorFailure(first: CheckResult, count: number): MoatError {
  const more = count > 1 ? ` (and ${count - 1} more failing check${count > 2 ? 's' : ''})` : '';
  return new MoatError(`The ${first.name} check failed: ${first.detail.replace(/\.$/, '')}${more}.`, {
    code: failureCode(first.name),
    hint: first.fix,
    exitCode: 1,
  });
}
