import { describe, expect, it } from 'vitest';
import { mountProblem } from '../../../src/config/rules.js';

describe('mount targets', () => {
  it("refuses any target covering the programs moat-init runs as root, moat's /moat, or the whole container", () => {
    for (const t of [
      '/',
      '/usr',
      '/usr/local/bin',
      '/usr/sbin/',
      '/bin',
      '/sbin/x',
      '/lib64',
      '/etc',
      '/moat',
      '/moat/stage',
      '/proc',
      '/dev/shm',
      '/opt/../usr/bin',
      '//usr//bin',
    ]) {
      expect(mountProblem(`./x:${t}`), t).toMatch(/mount target/);
    }
  });

  it('accepts ordinary targets', () => {
    for (const t of ['/data', '/opt/tools', '/home/moat/.cache', '/mnt/x', '/usrdata', '/workspace/sub'])
      expect(mountProblem(`./x:${t}:ro`), t).toBeUndefined();
  });
});
