/**
 * One size grammar for moat.yaml (container.memory, container.log_limit) and --memory: the schema and the
 * run read sizes with the same parseSize, so what validates is exactly what is applied (no size that
 * passes the schema and then silently means "no limit").
 */
import { describe, expect, it } from 'vitest';
import { cpusProblem, logLimitProblem, memoryProblem, parseSize } from '../../../src/config/rules.js';
import { parseConfigText } from '../../../src/config/parse.js';
import { moatConfigSchema } from '../../../src/config/schema.js';
import { mergeRunOptions } from '../../../src/config/merge.js';
import { resolveConfig } from '../../../src/config/load.js';

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
};

describe('parseSize', () => {
  it('reads binary units, with or without "b"/"ib", in any case', () => {
    expect(parseSize('512m')).toBe(512 * 1024 ** 2);
    expect(parseSize('2g')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseSize('64mb')).toBe(64 * 1024 ** 2);
    expect(parseSize('1t')).toBe(1024 ** 4);
    expect(parseSize('1048576')).toBe(1048576);
    expect(parseSize('100b')).toBe(100);
  });
  it('refuses what is not a size', () => {
    for (const s of ['lots', '', ' 2g', '2g ', '-1g', '2 g', '2x', '1e9', '0x10', '.5g', '5ib', '2gg']) expect(parseSize(s), s).toBeUndefined();
  });
});

describe('limits', () => {
  it('memory: at least 6m, what the engine accepts', () => {
    expect(memoryProblem('6m')).toBeUndefined();
    expect(memoryProblem('0')).toBe('expected at least 6m (the engine refuses less)');
    expect(memoryProblem('5m')).toBe('expected at least 6m (the engine refuses less)');
    expect(memoryProblem('lots')).toBe('expected a size like "512m" or "2g"');
  });
  it('log_limit: at least 1m', () => {
    expect(logLimitProblem('1m')).toBeUndefined();
    expect(logLimitProblem('0.5g')).toBeUndefined();
    expect(logLimitProblem('512k')).toBe('expected a size of at least 1m, like "64m" or "1g"');
  });
  it('cpus: at least 0.01', () => {
    expect(cpusProblem(0.5)).toBeUndefined();
    expect(cpusProblem(0.001)).toBe('expected a number of CPUs of at least 0.01, e.g. 2 or 0.5');
    expect(cpusProblem(Number.NaN)).toBeDefined();
    expect(cpusProblem(0)).toBeDefined();
  });
});

describe('the schema and the flags use the same rules', () => {
  it('moat.yaml: memory "0" (once accepted, then no limit at all) is refused at its line:col', () => {
    const msg = messageOf(() => parseConfigText('container:\n  memory: "0"\n  cpus: 0.001\n  log_limit: 10k\n', moatConfigSchema, 'moat.yaml'));
    expect(msg).toContain('moat.yaml:2:11: container.memory: expected at least 6m (the engine refuses less)');
    expect(msg).toContain('moat.yaml:3:9: container.cpus: expected a number of CPUs of at least 0.01, e.g. 2 or 0.5');
    expect(msg).toContain('moat.yaml:4:14: container.log_limit: expected a size of at least 1m, like "64m" or "1g"');
  });
  it('moat.yaml: "64MiB" is accepted, as by --memory', () => {
    expect(parseConfigText('container:\n  memory: 64MiB\n', moatConfigSchema, 'moat.yaml').container?.memory).toBe('64MiB');
    expect(mergeRunOptions(resolveConfig({}, '/w'), { memory: '64MiB' }).container?.memory).toBe('64MiB');
  });
  it('--memory and --cpus are refused with the same words, naming the flag', () => {
    expect(messageOf(() => mergeRunOptions(resolveConfig({}, '/w'), { memory: '0' }))).toBe(
      'invalid --memory "0": expected at least 6m (the engine refuses less)',
    );
    expect(messageOf(() => mergeRunOptions(resolveConfig({}, '/w'), { cpus: 0.001 }))).toBe(
      'invalid --cpus "0.001": expected a number of CPUs of at least 0.01, e.g. 2 or 0.5',
    );
  });
  it('pids, env entries and the run name: moat.yaml and the flags give the same words', () => {
    const msg = messageOf(() => parseConfigText('name: Bad_Name\nenv: ["1X=a", "NOEQ"]\ncontainer:\n  pids: 8\n', moatConfigSchema, 'moat.yaml'));
    expect(msg).toContain('moat.yaml:1:7: name: run name must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits, dashes)');
    expect(msg).toContain('moat.yaml:2:7: env[0]: invalid environment variable name "1X" (use letters, digits and _, not starting with a digit)');
    expect(msg).toContain('moat.yaml:2:15: env[1]: expected "NAME=value", e.g. "LOG_LEVEL=debug"');
    expect(msg).toContain('moat.yaml:4:9: container.pids: expected at least 16 processes');
    const flag = (f: Parameters<typeof mergeRunOptions>[1]) => messageOf(() => mergeRunOptions(resolveConfig({}, '/w'), f));
    expect(flag({ name: 'Bad_Name' })).toBe('invalid --name "Bad_Name": run name must match [a-z0-9][a-z0-9-]{0,62} (lower-case letters, digits, dashes)');
    expect(flag({ env: ['1X=a'] })).toBe('invalid -e "1X=a": invalid environment variable name "1X" (use letters, digits and _, not starting with a digit)');
    expect(flag({ env: ['NOEQ'] })).toBe('invalid -e "NOEQ": expected "NAME=value", e.g. "LOG_LEVEL=debug"');
    expect(flag({ pids: 8 })).toBe('invalid --pids "8": expected at least 16 processes');
  });
  it('--allow-host names the flag, not the network.rules entry it becomes', () => {
    const msg = messageOf(() => mergeRunOptions(resolveConfig({ network: { rules: ['a.test'] } }, '/w'), { allowHosts: ['http://x.test/'] }));
    expect(msg).toMatch(/^invalid --allow-host "http:\/\/x\.test\/": /);
    expect(msg).not.toContain('network.'); // The gateway's parser is the one check, for the flag too (no second emptiness test of its own).
    expect(messageOf(() => mergeRunOptions(resolveConfig({}, '/w'), { allowHosts: [' '] }))).toBe('invalid --allow-host " ": empty host pattern');
  });
});
