import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pagerArgv, pagerCommand, startPager } from '../../../src/term/pager.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('which pager', () => {
  it('pages only a terminal: MOAT_PAGER, then PAGER, then less', () => {
    expect(pagerCommand({}, false)).toBeUndefined();
    expect(pagerCommand({ MOAT_PAGER: 'most' }, false)).toBeUndefined();
    expect(pagerCommand({}, true)).toBe('less');
    expect(pagerCommand({ PAGER: 'more' }, true)).toBe('more');
    expect(pagerCommand({ PAGER: 'more', MOAT_PAGER: 'less -S' }, true)).toBe('less -S');
  });

  it('none for an empty command, cat, or a dumb terminal', () => {
    expect(pagerCommand({ MOAT_PAGER: '' }, true)).toBeUndefined();
    expect(pagerCommand({ MOAT_PAGER: '', PAGER: 'less' }, true)).toBeUndefined();
    expect(pagerCommand({ PAGER: ' cat ' }, true)).toBeUndefined();
    expect(pagerCommand({ TERM: 'dumb' }, true)).toBeUndefined();
  });

  it('starts a plain command line directly and anything with shell syntax through sh -c', () => {
    expect(pagerArgv('less')).toEqual(['less', []]);
    expect(pagerArgv('less  -R -S')).toEqual(['less', ['-R', '-S']]);
    expect(pagerArgv('/usr/bin/less --quit-if-one-screen')).toEqual(['/usr/bin/less', ['--quit-if-one-screen']]);
    expect(pagerArgv('delta | less')).toEqual(['/bin/sh', ['-c', 'delta | less']]);
    expect(pagerArgv("less -P'x y'")).toEqual(['/bin/sh', ['-c', "less -P'x y'"]]);
  });
});

describe('the pager process', () => {
  it('gets the text on its input and LESS=FRX unless LESS is set; done() waits for it to end', async () => {
    dir = await mkdtemp(join(tmpdir(), 'moat-pager-'));
    const out = join(dir, 'out');
    const pager = await startPager(`cat > '${out}'; printf '%s' "$LESS" > '${out}.less'`, { PATH: process.env.PATH });
    expect(pager).toBeDefined();
    pager!.input.write('one\n');
    pager!.input.write('two\n');
    await pager!.done();
    expect(await readFile(out, 'utf8')).toBe('one\ntwo\n');
    expect(await readFile(`${out}.less`, 'utf8')).toBe('FRX');
    const own = await startPager(`printf '%s' "$LESS" > '${out}.less'`, { PATH: process.env.PATH, LESS: '-S' });
    await own!.done();
    expect(await readFile(`${out}.less`, 'utf8')).toBe('-S');
  });

  it('a pager that cannot be started is none (the text goes to stdout)', async () => {
    expect(await startPager('moat-no-such-pager-here', { PATH: '/nonexistent' })).toBeUndefined();
  });

  it('a pager quit early: writes after it are swallowed and exited settles', async () => {
    const pager = await startPager('true', { PATH: process.env.PATH });
    await pager!.exited;
    pager!.input.write(Buffer.alloc(1 << 20));
    pager!.input.write('more\n');
    await pager!.done();
  });
});
