/**
 * One help style (an example on every command and subcommand, no "(default: [])" noise) and the shell
 * completion scripts, run against the built CLI. Nothing here needs the engine.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, moat, tempDir } from './helpers.js';

const execFileP = promisify(execFile);

let home: string;
let cwd: string;

beforeAll(async () => {
  home = await tempDir('voice-home');
  cwd = await tempDir('voice-cwd');
});

afterAll(async () => {
  const { rm } = await import('node:fs/promises');
  for (const d of [home, cwd]) await rm(d, { recursive: true, force: true });
});

/** The subcommands a help text lists under "Commands:" (commander's own `help` left out). */
function subcommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && c !== 'help');
}

describe('help', () => {
  it('every command and subcommand has an Example section and no (default: []) / (default: false)', async () => {
    const seen: string[] = [];
    const missing: string[] = [];
    let queue: string[][] = [[]];
    while (queue.length > 0) {
      const results: Array<{ path: string[]; r: Awaited<ReturnType<typeof moat>> }> = [];
      for (let i = 0; i < queue.length; i += 6) {
        // a few at a time: the machine is shared
        results.push(...(await Promise.all(queue.slice(i, i + 6).map(async (path) => ({ path, r: await moat([...path, '--help'], { home, cwd }) })))));
      }
      queue = [];
      for (const { path, r } of results) {
        expect(r.code, `${path.join(' ')}: ${r.stderr}`).toBe(0);
        seen.push(path.join(' '));
        if (!/\nExamples?:\n {2}moat /.test(r.stdout)) missing.push(`moat ${path.join(' ')}: no example`);
        if (/\(default: (\[\]|false|true)\)/.test(r.stdout)) missing.push(`moat ${path.join(' ')}: default noise`);
        queue.push(...subcommands(r.stdout).map((c) => [...path, c]));
      }
    }
    expect(missing).toEqual([]);
    // The walk really reached the nested commands.
    expect(seen).toEqual(expect.arrayContaining(['', 'run', 'grant list', 'claude sessions', 'codex resume', 'audit verify', 'trust show', 'completion']));
    expect(seen.length).toBeGreaterThan(30);
  }, 300_000);

  it('moat run --help keeps the defaults that say something, and shows its examples last', async () => {
    const r = await moat(['run', '--help'], { home, cwd });
    expect(r.stdout).toContain('(default: ".")');
    expect(r.stdout).toMatch(/Examples:\n {2}moat run -- npm test\n/);
    expect(r.stdout).not.toContain('(default: [])');
  });
});

describe('moat completion', () => {
  const binDir = join(REPO_ROOT, 'bin');
  /** Complete `words` (the last one is being typed) with the bash script, as bash's programmable completion would. */
  const complete = async (words: string[]): Promise<string[]> => {
    const script = join(cwd, 'moat.bash');
    if (!existsSync(script)) {
      const r = await moat(['completion', 'bash'], { home, cwd });
      expect(r.code, r.stderr).toBe(0);
      await writeFile(script, r.stdout);
    }
    const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const { stdout } = await execFileP(
      'bash',
      ['-c', `source '${script}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _moat; printf '%s\\n' "\${COMPREPLY[@]}"`],
      {
        cwd,
        env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, MOAT_HOME: home, NO_COLOR: '1' },
      },
    );
    return stdout.split('\n').filter(Boolean).sort();
  };

  /**
   * Complete the typed `line` (the cursor at its end) as bash hands it over with its default
   * COMP_WORDBREAKS: blanks separate words, and each run of `:` or `=` is a word of its own.
   */
  const completeLine = async (line: string): Promise<string[]> => {
    const script = join(cwd, 'moat.bash');
    if (!existsSync(script)) await complete(['moat', '']);
    const words = line.split(/[ \t]+/).flatMap((w) => w.split(/([:=]+)/).filter((p) => p !== ''));
    // After a blank the word being completed is empty; right after a ":" it is the ":" itself.
    if (/[ \t]$/.test(line)) words.push('');
    const quoted = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
    const q = (t: string): string => `'${t.replace(/'/g, `'\\''`)}'`;
    const { stdout } = await execFileP(
      'bash',
      [
        '-c',
        `source '${script}'; COMP_WORDBREAKS=$' \\t\\n"'"'"'><=;|&(:'; COMP_LINE=${q(line)}; COMP_POINT=${line.length}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _moat; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { cwd, env: { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, MOAT_HOME: home, NO_COLOR: '1' } },
    );
    return stdout.split('\n').filter(Boolean).sort();
  };

  beforeAll(async () => {
    // Runs and grants as the home records them: no engine involved. One name is hostile: it must never be
    // offered (compgen -W would expand it) nor run.
    for (const [id, name] of [
      ['run_0123456789ab', 'brave-otter'],
      ['run_0123456789ac', 'calm-heron'],
      ['run_0123456789ad', `$(touch ${join(cwd, 'PWNED')})`],
    ] as const) {
      await mkdir(join(home, 'runs', id), { recursive: true });
      await writeFile(
        join(home, 'runs', id, 'metadata.json'),
        JSON.stringify({
          id,
          name,
          workspace: cwd,
          command: ['true'],
          image: 'x',
          grants: [],
          interactive: false,
          keep: false,
          state: 'stopped',
          exitCode: 0,
          createdAt: new Date().toISOString(),
          home,
        }),
      );
    }
    await mkdir(join(home, 'credentials'), { recursive: true });
    for (const f of ['github.enc', 'npm.enc', 'ssh_git.example.com.enc', 'ssh_gitlab.example.com.enc', '$(touch PWNED).enc'])
      await writeFile(join(home, 'credentials', f), '');
  });

  it('the bash and zsh scripts are valid shell (bash -n), the fish one declares its completions', async () => {
    for (const shell of ['bash', 'zsh']) {
      const r = await moat(['completion', shell], { home, cwd });
      expect(r.code, r.stderr).toBe(0);
      await writeFile(join(cwd, `check.${shell}`), r.stdout);
      await execFileP('bash', ['-n', join(cwd, `check.${shell}`)]);
      expect(r.stdout).toContain('complete -F _moat moat');
    }
    const fish = await moat(['completion', 'fish'], { home, cwd });
    expect(fish.stdout).toContain("complete -c moat -f -a '(__moat_candidates)'");
    const bad = await moat(['completion', 'tcsh'], { home, cwd });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Use one of: bash, zsh, fish');
  });

  it('commands, subcommands and flags', async () => {
    expect(await complete(['moat', 'st'])).toEqual(['status', 'stop']);
    expect(await complete(['moat', 'grant', ''])).toEqual([
      'anthropic',
      'aws',
      'claude',
      'github',
      'gitlab',
      'huggingface',
      'linear',
      'list',
      'npm',
      'openai',
      'providers',
      'sentry',
      'show',
      'ssh',
      'stripe',
      'vercel',
    ]);
    expect(await complete(['moat', 'proxy', 're'])).toEqual(['restart']);
    expect(await complete(['moat', 'run', '--app'])).toEqual(['--approve-config']);
    expect(await complete(['moat', 'codex', 'resume', '--la'])).toEqual(['--last']);
    expect(await complete(['moat', 'completion', ''])).toEqual(['bash', 'fish', 'zsh']);
    // After -- comes the container's command: nothing of moat's.
    expect(await complete(['moat', 'run', '--', 'st'])).toEqual([]);
  });

  it('ssh:HOST grants complete although bash splits words at ":" (it replaces only what follows the last ":")', async () => {
    // What bash would put in place of the word's last piece: the rest of the grant name after "ssh:".
    expect(await completeLine('moat run -g ssh:')).toEqual(['git.example.com', 'gitlab.example.com']);
    expect(await completeLine('moat run -g ssh:gitl')).toEqual(['gitlab.example.com']);
    expect(await completeLine('moat revoke ssh:git.')).toEqual(['git.example.com']);
    expect(await completeLine('moat grant show ss')).toEqual(['ssh:git.example.com', 'ssh:gitlab.example.com']);
    // A grant after a completed ssh:HOST word still completes, and subcommands are still found after it.
    expect(await completeLine('moat run -g ssh:git.example.com -g gi')).toEqual(['github']);
    expect(await completeLine('moat run -g ssh:git.example.com --app')).toEqual(['--approve-config']);
    // A ":" after a blank is not joined to the word before it.
    expect(await completeLine('moat revoke ssh :git')).toEqual([]);
  });

  it('run names and grant names from the home, without an engine; a hostile name is neither offered nor run', async () => {
    expect(await complete(['moat', 'logs', ''])).toEqual(['brave-otter', 'calm-heron']);
    expect(await complete(['moat', 'stop', 'br'])).toEqual(['brave-otter']);
    expect(await complete(['moat', 'logs', '-n', '5', ''])).toEqual(['brave-otter', 'calm-heron']);
    expect(await complete(['moat', 'run', '-g', ''])).toEqual(['github', 'npm', 'ssh:git.example.com', 'ssh:gitlab.example.com']);
    expect(await complete(['moat', 'revoke', 'n'])).toEqual(['npm']);
    expect(existsSync(join(cwd, 'PWNED'))).toBe(false);
    const r = await moat(['__complete', 'runs'], { home, cwd, env: { DOCKER_HOST: 'unix:///nonexistent.sock' } });
    expect(r.stdout).toBe('brave-otter\ncalm-heron\n');
  });
});
