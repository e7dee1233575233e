// Reads the test log and prints the plain closing line our CI reads: "N passed, N failed".
import { readFileSync } from 'node:fs';
const [log, status] = process.argv.slice(2);
// eslint-disable-next-line no-control-regex -- strip ANSI colours
const text = readFileSync(log, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const line = text
  .split('\n')
  .reverse()
  .find((l) => /^\s*Tests\s+/.test(l));
let passed = 0;
let failed = 0;
if (line) {
  passed = Number(/(\d+) passed/.exec(line)?.[1] ?? 0);
  failed = Number(/(\d+) failed/.exec(line)?.[1] ?? 0);
}
if (Number(status) !== 0 && failed === 0) failed = 1; // typecheck, lint or build failed before or around the tests
console.log(`${passed} passed, ${failed} failed`);
