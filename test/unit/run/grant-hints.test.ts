import { describe, it, expect } from 'vitest';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { grantHints } from '../../../src/run/grant-hints.js';

describe('grant hints after a run', () => {
  it('names each refused grant once, with the renew command', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'moat-hints-'));
    const lines = [
      { host: 'api.github.com', status: 200, grant: 'github' },
      { host: 'api.github.com', status: 401, grant: 'github:repo' },
      { host: 'api.github.com', status: 403, grant: 'github:repo' },
      { host: 'example.com', status: 403 },
      { host: 'api.openai.com', status: 403, grant: 'openai', blocked: true },
    ];
    await writeFile(join(dir, 'network.jsonl'), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n{"torn`);
    const hints = await grantHints(dir);
    expect(hints).toEqual(['The github:repo grant was refused (api.github.com answered 401): it may be expired or lack a scope. Renew it with: moat grant github']);
    await rm(dir, { recursive: true });
  });
  it('is silent without a network log', async () => {
    expect(await grantHints('/nonexistent-moat-dir')).toEqual([]);
  });
});
