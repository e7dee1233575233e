/**
 * The routing CA (`~/.moat/routing-ca/`, what a browser may trust for `https://NAME.RUN.localhost`): its
 * files like the gateway CA's, and its critical name constraints. A routing CA without them could certify
 * any site if its key leaked; the fix replaces it (the daemon creates a constrained one when it restarts).
 */
import { join } from 'node:path';
import { routingConstraintsProblem } from '../gateway/name-constraints.js';
import { checkCaFiles } from './ca.js';
import { fail, type Check } from './types.js';

export const routingCaCheck: Check = {
  name: 'routing-ca',
  onTimeout: { detail: 'reading the routing CA took too long', fix: 'Check the disk holding your moat home' },
  run(ctx) {
    const d = ctx.home.routingCaDir;
    const rotate = `rm ${join(d, 'ca.pem')} ${join(d, 'ca.key')} && moat proxy restart, then trust the new one (moat open --ca) and remove the old one from your browser`;
    return checkCaFiles(
      {
        name: 'routing-ca',
        dir: d,
        renew: rotate,
        absent: 'not created yet (the first run with ports: creates it)',
        inspect: (cert, file) => {
          const problem = routingConstraintsProblem(cert.raw);
          return problem
            ? fail('routing-ca', `${file} ${problem}: if its key leaked it could certify any site to a browser that trusts it`, rotate)
            : undefined;
        },
      },
      ctx.now,
    );
  },
};
