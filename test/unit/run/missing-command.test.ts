import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MISSING_COMMAND_MARKER, StartMarkerFilter, missingCommandMessage } from '../../../src/run/missing-command.js';
import { dependencyForCommand } from '../../../src/deps/commands.js';

/** Feed chunks through a filter; its output and whether it saw the marker. */
async function through(chunks: string[]): Promise<{ out: string; seen: boolean }> {
  const src = new PassThrough();
  const f = new StartMarkerFilter();
  let out = '';
  src.pipe(f).on('data', (c: Buffer) => {
    out += c.toString();
  });
  for (const c of chunks) src.write(c);
  src.end();
  await new Promise((r) => f.on('end', r));
  return { out, seen: f.seen };
}

describe('moat-init\'s "command not found" line', () => {
  it("is swallowed when it is the first line, even split across chunks (LF and the terminal's CRLF)", async () => {
    expect(await through([`${MISSING_COMMAND_MARKER}\n`])).toEqual({ out: '', seen: true });
    expect(await through(['moat-in', 'it: command-', 'not-found\r', '\n'])).toEqual({ out: '', seen: true });
  });
  it('lets everything after it through', async () => {
    expect(await through([`${MISSING_COMMAND_MARKER}\nmore\n`, 'and more'])).toEqual({ out: 'more\nand more', seen: true });
  });
  it('is ordinary output anywhere but first, or with more on its line', async () => {
    expect(await through(['first\n', `${MISSING_COMMAND_MARKER}\n`])).toEqual({ out: `first\n${MISSING_COMMAND_MARKER}\n`, seen: false });
    expect(await through([`${MISSING_COMMAND_MARKER}: extra\n`])).toEqual({ out: `${MISSING_COMMAND_MARKER}: extra\n`, seen: false });
  });
  it('holds back only a prefix of it, and gives an unfinished prefix back at the end', async () => {
    expect(await through(['m'])).toEqual({ out: 'm', seen: false });
    expect(await through(['moat-init: com'])).toEqual({ out: 'moat-init: com', seen: false });
    expect(await through(['hello'])).toEqual({ out: 'hello', seen: false });
  });
});

describe('the message for a command that is not in the image', () => {
  it('names the dependency to add when one provides the command', () => {
    expect(`moat: ${missingCommandMessage('make', dependencyForCommand)}`).toBe('moat: make is not in the image; add it to dependencies (moat deps info make)');
    expect(missingCommandMessage('rg', dependencyForCommand)).toBe('rg is not in the image; add ripgrep to dependencies (moat deps info ripgrep)');
    expect(missingCommandMessage('npx', dependencyForCommand)).toBe('npx is not in the image; add node to dependencies (moat deps info node)');
  });
  it('says "not found in the image" otherwise, and explains a path', () => {
    expect(missingCommandMessage('frobnicate', dependencyForCommand)).toBe(
      'frobnicate was not found in the image; add what provides it to dependencies (moat deps list shows the built-in ones)',
    );
    expect(missingCommandMessage('./build.sh', dependencyForCommand)).toBe('./build.sh does not exist in the container (a relative path starts at /workspace)');
    expect(missingCommandMessage('/opt/x', dependencyForCommand)).toBe('/opt/x does not exist in the container');
    expect(missingCommandMessage(undefined, dependencyForCommand)).toBe("the run's command was not found in the image");
  });
  it('never suggests a bundle or an unknown name', () => {
    expect(dependencyForCommand('cli-basics')).toBeUndefined();
    expect(dependencyForCommand('python3')).toBe('python');
    expect(dependencyForCommand('git')).toBe('git');
  });
});
