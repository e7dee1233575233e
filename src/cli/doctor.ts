import type { Command } from '@commander-js/extra-typings';
import { example } from './help.js';
import pc from 'picocolors';
import { forOut, jsonOut, type CliContext } from './context.js';

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
        process.stdout.write(`${jsonOut({ checks })}\n`);
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
