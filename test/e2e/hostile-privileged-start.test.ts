/**
 * The privileged start of a container (moat-init, root with CHOWN, DAC_OVERRIDE, FOWNER, SETUID, SETGID)
 * as the target of everything a run can write: the workspace and moat.yaml's env:. Each workspace here is
 * owned by uid 1000, so the run's own process is uid 1000 and anything done as root is visible by owner.
 * Every planted program records who ran it (uid and effective capabilities); the run's own command runs
 * each vector too, so the test also proves the setting did reach the user's process.
 */
import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupHome, errorProblems, moat, tempDir } from './helpers.js';

const execFileP = promisify(execFile);
const OWNER = 1000;
/** Every program moat-init runs (by name or path), and a few a shell start-up could reach for. */
const TOOLS = [
  'grep',
  'sed',
  'chown',
  'cp',
  'cat',
  'ln',
  'find',
  'sleep',
  'socat',
  'setpriv',
  'env',
  'sh',
  'keytool',
  'printf',
  'id',
  'chmod',
  'xargs',
  'mkdir',
  'test',
  'moat-init',
];

let home: string;
let root: string;

/** A program that records who ran it in /workspace/hit.<what>.<pid>, then does what the real one does. */
function recorder(what: string, real?: string): string {
  return [
    '#!/bin/sh',
    `echo "$(/usr/bin/id -u) $(/bin/sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)" > "/workspace/hit.${what}.$$"`,
    real ? `exec ${real} "$@"` : 'true',
    '',
  ].join('\n');
}

async function workspace(name: string, yaml: string, files: Record<string, string> = {}): Promise<string> {
  const d = join(root, name);
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'moat.yaml'), yaml);
  for (const [path, content] of Object.entries(files)) {
    await mkdir(join(d, path, '..'), { recursive: true });
    await writeFile(join(d, path), content);
    await chmod(join(d, path), 0o755);
  }
  await execFileP('chown', ['-R', `${OWNER}:${OWNER}`, d]);
  return d;
}

/** Every `hit.<what>.<pid>` file: what ran, as which uid, with which effective capabilities. */
function hits(ws: string): Array<{ what: string; uid: number; caps: string }> {
  return readdirSync(ws)
    .filter((n) => n.startsWith('hit.'))
    .map((n) => {
      const [uid, caps] = readFileSync(join(ws, n), 'utf8').trim().split(' ');
      return { what: n.split('.')[1] ?? '', uid: Number(uid), caps: caps ?? '' };
    });
}

/** Paths under `dir` (symlinks not followed) owned by root, or with a set-id bit. */
function rootOrSetId(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const s = lstatSync(p);
    if (s.uid === 0 || (s.mode & 0o6000) !== 0) out.push(p);
    if (s.isDirectory()) rootOrSetId(p, out);
  }
  return out;
}

function expectOnlyTheUser(ws: string, reached: string[]): void {
  const all = hits(ws);
  const privileged = all.filter((h) => h.uid === 0 || !/^0+$/.test(h.caps));
  expect(privileged, JSON.stringify(all)).toEqual([]);
  for (const what of reached)
    expect(
      all.map((h) => h.what),
      `the run's own process ran the planted ${what}`,
    ).toContain(what);
  expect(rootOrSetId(ws)).toEqual([]);
}

beforeAll(async () => {
  home = await tempDir('privstart-home');
  root = await tempDir('privstart-ws');
});

afterAll(async () => {
  await cleanupHome(home, root, [root]);
});

describe('hostile workspace: the privileged start never runs what a run planted', () => {
  it("env: PATH with fake grep, sed, chown, … first: moat-init never runs them, the run's own command does", async () => {
    const files = Object.fromEntries(TOOLS.map((t) => [`.b/${t}`, recorder(t, t === 'moat-init' ? undefined : `/usr/bin/${t}`)]));
    files['.b/['] = recorder('bracket', '/usr/bin/[');
    const ws = await workspace('path', 'env:\n  PATH: /workspace/.b:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n', files);
    const r = await moat(['run', '--', '/bin/sh', '-c', 'echo "PATH=$PATH"; grep -q x /dev/null; true'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('PATH=/workspace/.b:');
    expectOnlyTheUser(ws, ['grep']);
  });

  it("env: LD_PRELOAD naming a library in the workspace is loaded by the run's own command only", async () => {
    const ws = await workspace('preload', 'env:\n  LD_PRELOAD: /workspace/evil.so\n');
    const src = join(ws, 'evil.c');
    await writeFile(
      src,
      [
        '#include <stdio.h>',
        '#include <unistd.h>',
        '#include <string.h>',
        '__attribute__((constructor)) static void hit(void) {',
        '  char caps[64] = "?"; char line[256]; FILE *s = fopen("/proc/self/status", "r");',
        '  while (s && fgets(line, sizeof line, s)) if (!strncmp(line, "CapEff:", 7)) sscanf(line + 7, "%63s", caps);',
        '  if (s) fclose(s);',
        '  char name[64]; snprintf(name, sizeof name, "/workspace/hit.preload.%d", (int)getpid());',
        '  FILE *f = fopen(name, "w"); if (f) { fprintf(f, "%d %s\\n", (int)getuid(), caps); fclose(f); }',
        '}',
        '',
      ].join('\n'),
    );
    await execFileP('gcc', ['-shared', '-fPIC', '-o', join(ws, 'evil.so'), src]);
    await execFileP('chown', ['-R', `${OWNER}:${OWNER}`, ws]);
    const r = await moat(['run', '--', '/bin/true'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/ld\.so/);
    expectOnlyTheUser(ws, ['preload']);
  });

  it("env: BASH_ENV and ENV naming a workspace script are read by the run's own shells only", async () => {
    const ws = await workspace('bashenv', 'env:\n  BASH_ENV: /workspace/evil.sh\n  ENV: /workspace/evil.sh\n', {
      'evil.sh': `echo "$(/usr/bin/id -u) $(/bin/sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)" > "/workspace/hit.startup.$$"\n`,
    });
    const r = await moat(['run', '--', '/bin/bash', '-c', 'true'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expectOnlyTheUser(ws, ['startup']);
  });

  it("a writable mount first in PATH is used by the run's own command only, and none may cover system folders", async () => {
    const files = Object.fromEntries(TOOLS.filter((t) => t !== 'moat-init').map((t) => [`tools/${t}`, recorder(t, `/usr/bin/${t}`)]));
    const ws = await workspace('mount', 'mounts:\n  - ./tools:/opt/tools\nenv:\n  PATH: /opt/tools:/usr/sbin:/usr/bin:/sbin:/bin\n', files);
    const r = await moat(['run', '--approve-config', '--', '/bin/sh', '-c', 'cat /dev/null'], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expectOnlyTheUser(ws, ['cat']);

    for (const target of ['/usr/local/bin', '/usr/sbin', '/bin', '/etc', '/moat/stage', '/', '/lib/../usr/bin']) {
      const bad = await workspace(`mount-${target.replace(/\W/g, '_')}`, `mounts:\n  - ./tools:${target}\n`, { 'tools/moat-init': recorder('moat-init') });
      const refused = await moat(['run', '--approve-config', '--', 'true'], { home, cwd: bad });
      expect(errorProblems(refused, 3), `${target}: ${refused.stderr}`).toEqual([]);
      expect(refused.stderr).toMatch(/mount target/);
      expect(hits(bad)).toEqual([]);
    }
  });
});

describe("the run's environment still reaches its command, exactly", () => {
  it("values with spaces, newlines, =, quotes, backslashes and $ round-trip; -e adds; the gateway's variables stay", async () => {
    const values: Record<string, string> = {
      SPACES: '  a  b  ',
      LINES: 'one\ntwo\n\nthree\n',
      EQUALS: 'k=v==w=',
      QUOTES: `it's "quoted" \`tick\``,
      SLASHES: 'a\\nb\\\\c\\0101\\',
      DOLLARS: '$HOME ${PATH} $(id) %s %b',
      TABS: '\tx\ty\r',
      UNICODE: 'héllo wörld ✓',
      EMPTY: '',
    };
    const yaml = `env:\n${Object.entries(values)
      .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
      .join('\n')}\n`;
    const ws = await workspace('values', yaml);
    // Each value leaves as base64, so the output path cannot change a byte of it.
    const show = (label: string, expr: string): string => `printf '${label}='; printf '%s' "${expr}" | base64 -w0; echo`;
    const script = [...Object.keys(values), 'FLAG']
      .map((n) => show(n, `$${n}`))
      .concat(show('PROXY', '$HTTPS_PROXY'), show('CA', '$SSL_CERT_FILE'), show('HOME', '$HOME'), show('MOAT_UID', '${MOAT_UID-unset}'))
      .join('\n');
    const r = await moat(['run', '-e', 'FLAG=x = y\nz', '--', '/bin/sh', '-c', script], { home, cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    const seen: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^([A-Z_]+)=([A-Za-z0-9+/=]*)$/.exec(line.trim());
      if (m?.[1]) seen[m[1]] = Buffer.from(m[2] ?? '', 'base64').toString('utf8');
    }
    for (const [k, v] of Object.entries(values)) expect(seen[k], k).toBe(v);
    expect(seen.FLAG).toBe('x = y\nz');
    expect(seen.PROXY).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(seen.CA).toBe('/etc/ssl/certs/ca-certificates.crt');
    expect(seen.HOME).toBe('/home/moat');
    expect(seen.MOAT_UID).toBe('unset'); // moat-init's own numbers stay with moat-init
  });
});
