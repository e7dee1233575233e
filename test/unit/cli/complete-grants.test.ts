/**
 * `moat __complete grants` offers the names a user types: an SSH grant is `ssh:HOST` (what `grant list`
 * shows and `-g`/`revoke` take), never the store's file name `ssh_HOST`; hand-made file names that could
 * expand in a shell are still left out.
 */
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { printDynamicValues } from '../../../src/cli/completion.js';
import { MoatHome } from '../../../src/home/paths.js';

describe('__complete grants', () => {
  it('offers ssh:HOST and plain names, and nothing a shell would expand', async () => {
    const home = new MoatHome(await mkdtemp(join(tmpdir(), 'moat-complete-')));
    await mkdir(home.credentialsDir, { recursive: true });
    for (const f of ['github.enc', 'ssh_git.example.com.enc', '$(touch x).enc', 'notes.txt']) await writeFile(join(home.credentialsDir, f), '');
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    await printDynamicValues('grants', home, out);
    expect(text.split('\n').filter(Boolean)).toEqual(['github', 'ssh:git.example.com']);
  });
});
