/** The per-home daemon: running or not, its pid, and whether it is the same build as this CLI. */
import { daemonState } from '../daemon/client.js';
import { daemonLockHolder } from '../daemon/lock.js';
import { DAEMON_PROTOCOL, daemonLog } from '../daemon/protocol.js';
import { BUILD } from '../version.js';
import { fail, ok, warn, type Check } from './types.js';

export const daemonCheck: Check = {
  name: 'daemon',
  onTimeout: { detail: 'the moat daemon did not answer', fix: 'moat proxy restart' },
  async run(ctx) {
    const s = await daemonState(ctx.home, 2000);
    switch (s.kind) {
      case 'absent':
        return ok('daemon', 'not running (it starts on demand with the next run)');
      case 'leaving':
        return ok('daemon', 'handing its runs over to a new daemon');
      case 'silent': {
        const holder = await daemonLockHolder(ctx.home);
        return fail(
          'daemon',
          `the daemon${holder ? ` (pid ${holder.pid})` : ''} took the connection but did not answer`,
          holder
            ? `kill ${holder.pid} (the next moat command starts a new one, which takes its runs over); its log: ${daemonLog(ctx.home)}`
            : `moat proxy restart; its log: ${daemonLog(ctx.home)}`,
        );
      }
      case 'up': {
        const h = s.health;
        const what = `running: pid ${h.pid}, ${h.runs.length} live run${h.runs.length === 1 ? '' : 's'}, since ${h.startedAt}`;
        if (h.protocol !== DAEMON_PROTOCOL || h.version !== BUILD) {
          return warn(
            'daemon',
            `${what}; its build ${h.version} differs from this CLI's ${BUILD} (the next run hands its runs over to a new one)`,
            'moat proxy restart',
          );
        }
        return ok('daemon', `${what}; build ${h.version} matches the CLI`);
      }
    }
  },
};
