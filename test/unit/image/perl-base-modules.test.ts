/**
 * The Perl that moat runs inside containers (moat-init's relays, the build relay) must run on the
 * perl-base of a minimal Debian or Ubuntu image: no module from perl-modules or libperl (Time::HiRes,
 * for one, is not there, and a relay that dies at load leaves the run without a way out). This host's
 * Perl has every module, so running the scripts here cannot show it: the `use` lines are checked instead.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** Modules that Debian's and Ubuntu's perl-base ship (checked against `dpkg -L perl-base` below). */
const PERL_BASE = ['strict', 'warnings', 'Socket', 'Fcntl', 'Errno', 'POSIX', 'IO::Select', 'IO::Socket::INET', 'IO::Socket::UNIX'];

const SOURCES = ['../../../src/image/assets/moat-init.sh', '../../../src/image/build-relay.ts'];

function usedModules(text: string): string[] {
  return [...text.matchAll(/(?:^|[;\s'`])use\s+([A-Za-z][\w:]*)/g)].map((m) => m[1]!).filter((m) => !/^[a-z]/.test(m) || m === 'strict' || m === 'warnings');
}

describe('Perl run inside containers loads only perl-base modules', () => {
  for (const rel of SOURCES) {
    it(rel.replace(/^.*src\//, 'src/'), () => {
      const used = usedModules(readFileSync(new URL(rel, import.meta.url), 'utf8'));
      expect(used.length).toBeGreaterThan(0);
      expect(used.filter((m) => !PERL_BASE.includes(m))).toEqual([]);
    });
  }

  it('the list matches what perl-base ships on this Debian host', () => {
    const files = execFileSync('dpkg', ['-L', 'perl-base'], { encoding: 'utf8' });
    for (const m of PERL_BASE) expect(files, m).toMatch(new RegExp(`/perl-base/${m.replaceAll('::', '/')}\\.pm\\n`));
    // And a module it does not ship is caught (the check can fail).
    expect(files).not.toMatch(/\/perl-base\/Time\/HiRes\.pm\n/);
  });
});
