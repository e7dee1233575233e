import { describe, expect, it } from 'vitest';
import type { ResolvedConfig } from '../../../src/config/load.js';
import { mergeRunOptions, parseEnvFlags } from '../../../src/config/merge.js';

const base: ResolvedConfig = {
  name: 'from-file',
  command: 'make test',
  interactive: false,
  env: { A: 'file', B: 'file' },
  mounts: [{ source: '/ws/data', target: '/data', readOnly: true }],
  grants: ['github'],
  container: { memory: '1g', cpus: 1 },
  network: { policy: 'strict', rules: ['api.github.com', { 'x.com': ['allow GET /**'] }] },
};

describe('mergeRunOptions', () => {
  it('returns the file config unchanged when no flags are given', () => {
    expect(mergeRunOptions(base, {})).toEqual(base);
  });

  it('lets flags override scalars', () => {
    const out = mergeRunOptions(base, { name: 'from-flag', command: ['bash'], interactive: true, baseImage: 'debian', cpus: 4 });
    expect(out.name).toBe('from-flag');
    expect(out.command).toEqual(['bash']);
    expect(out.interactive).toBe(true);
    expect(out.base_image).toBe('debian');
    expect(out.container).toEqual({ memory: '1g', cpus: 4 });
  });

  it('adds list flags to the file lists without duplicates', () => {
    const out = mergeRunOptions(base, {
      grants: ['anthropic', 'github'],
      env: ['B=flag', 'C=x=y'],
      allowHosts: ['api.github.com', 'pypi.org', 'pypi.org'],
    });
    expect(out.grants).toEqual(['github', 'anthropic']);
    expect(out.env).toEqual({ A: 'file', B: 'flag', C: 'x=y' });
    expect(out.network).toEqual({ policy: 'strict', rules: ['api.github.com', { 'x.com': ['allow GET /**'] }, 'pypi.org'] });
  });

  it('works on an empty config', () => {
    const out = mergeRunOptions({ env: {}, mounts: [] }, { grants: ['github'], allowHosts: ['a.com'], memory: '512m' });
    expect(out).toEqual({ env: {}, mounts: [], grants: ['github'], network: { rules: ['a.com'] }, container: { memory: '512m' } });
  });

  it('does not mutate the file config', () => {
    const snapshot = structuredClone(base);
    mergeRunOptions(base, { env: ['A=x'], grants: ['z'], allowHosts: ['h'], memory: '2g' });
    expect(base).toEqual(snapshot);
  });

  it('rejects bad flag values, naming the flag', () => {
    expect(() => mergeRunOptions(base, { env: ['1BAD=x'] })).toThrow(/invalid -e "1BAD=x": invalid environment variable name "1BAD"/);
    expect(() => mergeRunOptions(base, { env: ['NOVALUE'] })).toThrow('invalid -e "NOVALUE": expected "NAME=value", e.g. "LOG_LEVEL=debug"');
    expect(() => mergeRunOptions(base, { name: 'Bad Name' })).toThrow(/invalid --name "Bad Name"/);
    expect(() => mergeRunOptions(base, { memory: 'lots' })).toThrow(/invalid --memory "lots"/);
    expect(() => mergeRunOptions(base, { cpus: 0 })).toThrow(/invalid --cpus "0"/);
    const pidsCases: Array<[number, string]> = [
      [0, 'expected at least 16 processes'],
      [15, 'expected at least 16 processes'],
      [1.5, 'expected a whole number of processes, e.g. 1024'],
      [Number.NaN, 'expected a whole number of processes, e.g. 1024'],
      [4_194_305, 'expected at most 4194304 processes'],
    ];
    for (const [pids, why] of pidsCases) {
      expect(() => mergeRunOptions(base, { pids }), String(pids)).toThrow(`invalid --pids "${String(pids)}": ${why}`);
    }
  });

  it("--pids replaces the file's process limit and keeps its other limits", () => {
    expect(mergeRunOptions(base, { pids: 256 }).container).toEqual({ memory: '1g', cpus: 1, pids: 256 });
    expect(mergeRunOptions({ ...base, container: { pids: 64 } }, { pids: 128 }).container).toEqual({ pids: 128 });
  });
});

describe('parseEnvFlags', () => {
  it('keeps everything after the first "=" and allows empty values', () => {
    expect(parseEnvFlags(['A=', 'B=1=2', 'A=last'])).toEqual({ A: 'last', B: '1=2' });
  });
});
