#!/usr/bin/env node
// Registers gVisor's runsc as a Docker runtime in daemon.json, merged into what is there (other keys and
// runtimes are kept). Prints "changed" or "unchanged"; the caller reloads dockerd (SIGHUP) on "changed".
// The runtime arguments are the ones moat's transport needs: runsc refuses to start in the host's network
// namespace without --network=none, and without --host-uds=open a process inside cannot connect to the
// gateway's unix socket in the bind-mounted /moat/net folder.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const RUNSC_ARGS = ['--network=none', '--host-uds=open'];

/** The daemon.json text with runsc registered, or undefined when it already is (exactly so). */
export function withRunsc(text, runscPath) {
  const conf = text.trim() === '' ? {} : JSON.parse(text);
  if (conf === null || typeof conf !== 'object' || Array.isArray(conf)) throw new Error('daemon.json is not a JSON object');
  const want = { path: runscPath, runtimeArgs: RUNSC_ARGS };
  const runtimes = conf.runtimes && typeof conf.runtimes === 'object' ? conf.runtimes : {};
  if (JSON.stringify(runtimes.runsc) === JSON.stringify(want)) return undefined;
  return `${JSON.stringify({ ...conf, runtimes: { ...runtimes, runsc: want } }, null, 2)}\n`;
}

function main([file = '/etc/docker/daemon.json', runscPath = '/usr/bin/runsc']) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const next = withRunsc(text, runscPath);
  if (next === undefined) {
    process.stdout.write('unchanged\n');
    return;
  }
  writeFileSync(`${file}.moat-tmp`, next, { mode: 0o644 });
  renameSync(`${file}.moat-tmp`, file);
  process.stdout.write('changed\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`register-runsc: ${err.message}\n`);
    process.exit(1);
  }
}
