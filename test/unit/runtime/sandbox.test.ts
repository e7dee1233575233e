import { describe, expect, it } from 'vitest';
import { chooseSandbox, findRunsc, runcNotice, RUNSC_ARGS } from '../../../src/runtime/sandbox.js';
import { requestedSandbox } from '../../../src/run/sandbox-choice.js';
import { MoatError } from '../../../src/errors.js';
// @ts-expect-error -- a plain .mjs script without types
import { withRunsc } from '../../../scripts/register-runsc.mjs';

const ADDR = 'unix:///var/run/docker.sock';
const runsc = { path: '/usr/bin/runsc', runtimeArgs: [...RUNSC_ARGS] };

describe('chooseSandbox', () => {
  it("defaults to gVisor when the engine has runsc registered with the transport's arguments", () => {
    expect(chooseSandbox(undefined, { runc: { path: 'runc' }, runsc }, 'runc', ADDR)).toEqual({ sandbox: 'gvisor', engineRuntime: 'runsc' });
  });

  it('finds runsc registered under another name by its binary', () => {
    expect(chooseSandbox(undefined, { gvisor: runsc }, 'runc', ADDR)).toEqual({ sandbox: 'gvisor', engineRuntime: 'gvisor' });
  });

  it('falls back to runc with a reason when nothing is asked for and runsc is missing', () => {
    const c = chooseSandbox(undefined, { runc: { path: 'runc' } }, 'runc', ADDR);
    expect(c).toEqual({ sandbox: 'runc', fallback: `the engine at ${ADDR} has no runsc runtime registered` });
  });

  it('an explicit gVisor the engine does not have is an error with the fix, never runc', () => {
    let err: unknown;
    try {
      chooseSandbox({ sandbox: 'gvisor', source: 'MOAT_SANDBOX' }, { runc: {} }, 'runc', ADDR);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toBe(`gVisor was asked for (MOAT_SANDBOX) but the engine at ${ADDR} has no runsc runtime registered.`);
    expect((err as MoatError).hint).toContain('"--host-uds=open"');
    expect((err as MoatError).hint).toContain('--sandbox runc');
  });

  it('a runsc registered without --host-uds=open is not usable: the transport could not connect', () => {
    const bare = { runsc: { path: '/usr/bin/runsc', runtimeArgs: ['--network=none'] } };
    expect(() => chooseSandbox({ sandbox: 'gvisor', source: '--sandbox' }, bare, 'runc', ADDR)).toThrow(/lacks the runtime arguments --host-uds=open/);
    expect(chooseSandbox(undefined, bare, 'runc', ADDR).sandbox).toBe('runc');
    expect(findRunsc({ a: bare.runsc, runsc })).toEqual({ name: 'runsc', missingArgs: [] });
  });

  it('runc when asked, by name when the engine defaults to another runtime', () => {
    expect(chooseSandbox({ sandbox: 'runc', source: 'moat.yaml' }, { runc: {}, runsc }, 'runc', ADDR)).toEqual({ sandbox: 'runc' });
    expect(chooseSandbox({ sandbox: 'runc', source: 'moat.yaml' }, { runc: {}, runsc }, 'runsc', ADDR)).toEqual({ sandbox: 'runc', engineRuntime: 'runc' });
  });

  it('on Podman, gVisor is Docker-only: runc by default, with a notice that points at Docker and not at daemon.json', () => {
    // Podman's compat /info lists a runsc it knows of, never with runtime arguments.
    const podman = { runc: { path: '/usr/bin/runc' }, runsc: { path: '/usr/bin/runsc' } };
    const c = chooseSandbox(undefined, podman, 'runc', 'unix:///run/podman/podman.sock', 'podman');
    expect(c).toEqual({ sandbox: 'runc', fallback: expect.stringContaining('gVisor is Docker-only') as unknown });
    const notice = runcNotice(c.fallback ?? '', 'podman');
    expect(notice).toContain('engine: docker in ~/.moat/config.yaml');
    expect(notice).not.toContain('daemon.json');
    // Even a runsc listed with the arguments is not used through Podman's API.
    expect(chooseSandbox(undefined, { runsc }, 'runc', 'unix:///run/podman/podman.sock', 'podman').sandbox).toBe('runc');
  });

  it('on Podman, asking for gVisor is an error that says it is Docker-only, with the fix', () => {
    let err: unknown;
    try {
      chooseSandbox({ sandbox: 'gvisor', source: '--sandbox' }, { runsc }, 'runc', 'unix:///run/podman/podman.sock', 'podman');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MoatError);
    expect((err as MoatError).message).toContain('gVisor is Docker-only');
    expect((err as MoatError).hint).toContain('--sandbox runc');
    expect((err as MoatError).hint).not.toContain('daemon.json');
  });
});

describe('requestedSandbox', () => {
  it('takes the flag, then MOAT_SANDBOX, then moat.yaml', () => {
    expect(requestedSandbox('runc', { MOAT_SANDBOX: 'gvisor' }, 'gvisor')).toEqual({ sandbox: 'runc', source: '--sandbox' });
    expect(requestedSandbox(undefined, { MOAT_SANDBOX: 'runc' }, 'gvisor')).toEqual({ sandbox: 'runc', source: 'MOAT_SANDBOX' });
    expect(requestedSandbox(undefined, { MOAT_SANDBOX: '' }, 'runc')).toEqual({ sandbox: 'runc', source: 'moat.yaml' });
    expect(requestedSandbox(undefined, {}, undefined)).toBeUndefined();
  });

  it('refuses a value that is not a sandbox', () => {
    expect(() => requestedSandbox(undefined, { MOAT_SANDBOX: 'kata' }, undefined)).toThrow('MOAT_SANDBOX="kata" is not a sandbox: expected gvisor or runc.');
    expect(() => requestedSandbox('none', {}, undefined)).toThrow('invalid --sandbox "none": expected gvisor or runc');
  });
});

describe('register-runsc (setup.sh)', () => {
  it('merges runsc into an existing daemon.json, keeping its other keys and runtimes', () => {
    const before = JSON.stringify({ 'log-driver': 'json-file', runtimes: { kata: { path: '/usr/bin/kata' } } });
    const after = JSON.parse(withRunsc(before, '/usr/bin/runsc') as string) as Record<string, unknown>;
    expect(after).toEqual({ 'log-driver': 'json-file', runtimes: { kata: { path: '/usr/bin/kata' }, runsc } });
  });

  it('is idempotent: a registered runsc is left alone, a stale one is replaced', () => {
    const once = withRunsc('', '/usr/bin/runsc') as string;
    expect(withRunsc(once, '/usr/bin/runsc')).toBeUndefined();
    const stale = JSON.stringify({ runtimes: { runsc: { path: '/usr/bin/runsc' } } });
    expect(JSON.parse(withRunsc(stale, '/usr/bin/runsc') as string)).toEqual({ runtimes: { runsc } });
  });

  it('refuses a daemon.json that is not an object rather than overwrite it', () => {
    expect(() => withRunsc('[1]', '/usr/bin/runsc')).toThrow('not a JSON object');
    expect(() => withRunsc('{', '/usr/bin/runsc')).toThrow();
  });
});
