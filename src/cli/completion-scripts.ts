/**
 * The completion scripts, generated from the command tree (completion.ts): one table of command paths,
 * walked the same way in bash (zsh reuses it through bashcompinit) and in fish. Run and grant names come
 * from `moat __complete runs|grants` at Tab time.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** '' nothing (a flag: takes no value), 'none' a value with nothing to offer, or where values come from. */
export type ValueKind = '' | 'none' | 'runs' | 'grants' | 'dirs' | 'files' | `words:${string}`;

export interface CompletionEntry {
  /** The words after `moat` that name the command ('' for moat itself, 'grant list'). */
  path: string;
  subcommands: string[];
  flags: Array<{ name: string; value: ValueKind }>;
  /** What its (first) argument takes. */
  argument: ValueKind;
}

/*
 * The walk keeps the command path in `cmdpath`, never `path`: zsh ties `path` to PATH, so a local `path`
 * would empty PATH inside the function and `moat __complete` would not be found.
 */

/** A word of moat's own definitions, single-quoted for either shell. */
function q(s: string): string {
  if (!/^[A-Za-z0-9 _.:@|=,/-]*$/.test(s)) throw new Error(`completion: unexpected character in "${s}"`);
  return `'${s}'`;
}

function flagCases(entries: readonly CompletionEntry[]): Array<{ labels: string[]; kind: ValueKind }> {
  const byKind = new Map<ValueKind, string[]>();
  for (const e of entries) for (const f of e.flags) if (f.value !== '') byKind.set(f.value, [...(byKind.get(f.value) ?? []), `${e.path}|${f.name}`]);
  return [...byKind].map(([kind, labels]) => ({ kind, labels }));
}

function bash(entries: readonly CompletionEntry[]): string {
  const spec = entries.map(
    (e) => `    ${q(e.path)}) _moat_subs=${q(e.subcommands.join(' '))}; _moat_flags=${q(e.flags.map((f) => f.name).join(' '))}; _moat_arg=${q(e.argument)};;`,
  );
  const flags = flagCases(entries).map((c) => `    ${c.labels.map(q).join('|')}) _moat_val=${q(c.kind)};;`);
  return `_moat_spec() {
  case "$1" in
${spec.join('\n')}
    *) _moat_subs=''; _moat_flags=''; _moat_arg='';;
  esac
}

_moat_flag() {
  case "$1|$2" in
${flags.join('\n')}
    *) _moat_val='';;
  esac
}

_moat_values() {
  local IFS=$'\\n'
  case "$1" in
    runs|grants) COMPREPLY+=($(compgen -W "$("$3" __complete "$1" 2>/dev/null)" -- "$2"));;
    dirs) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -d -- "$2"));;
    files) compopt -o filenames 2>/dev/null; COMPREPLY+=($(compgen -f -- "$2"));;
    words:*) local w="\${1#words:}"; COMPREPLY+=($(compgen -W "\${w// /$'\\n'}" -- "$2"));;
  esac
}

# bash splits words at the characters of COMP_WORDBREAKS, ":" among them: "ssh:git" arrives as "ssh" ":" "git".
# Join what was one word on the line again (pieces with no blank between them, around a ":").
_moat_words() {
  local line="\${COMP_LINE-}" pos=0 start i w n=0
  _moat_w=()
  for ((i = 0; i <= COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    start=$pos
    while [[ -n $line && \${line:pos:1} == [[:blank:]] ]]; do ((pos++)); done
    if ((i > 0 && pos == start && n > 0)) && [[ -n $line && ( $w == :* || \${_moat_w[n-1]} == *: ) ]]; then
      _moat_w[n-1]+="$w"
    else
      _moat_w[n++]="$w"
    fi
    pos=$((pos + \${#w}))
  done
  _moat_cw=$((n - 1))
}

_moat_complete() {
  local cur="\${_moat_w[_moat_cw]}" bin="\${_moat_w[0]}" cmdpath='' i w
  local _moat_subs _moat_flags _moat_arg _moat_val
  COMPREPLY=()
  for ((i = 1; i < _moat_cw; i++)); do
    w="\${_moat_w[i]}"
    [[ $w == -- ]] && return 0
    if [[ $w == -* ]]; then
      _moat_flag "$cmdpath" "$w"
      if [[ -n $_moat_val && $w != *=* ]]; then
        if ((i + 1 == _moat_cw)); then _moat_values "$_moat_val" "$cur" "$bin"; return 0; fi
        ((i++))
      fi
      continue
    fi
    _moat_spec "$cmdpath"
    [[ " $_moat_subs " == *" $w "* ]] && cmdpath="\${cmdpath:+$cmdpath }$w"
  done
  _moat_spec "$cmdpath"
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$_moat_flags" -- "$cur"))
    return 0
  fi
  COMPREPLY=($(compgen -W "$_moat_subs" -- "$cur"))
  [[ -n $_moat_arg ]] && _moat_values "$_moat_arg" "$cur" "$bin"
  return 0
}

_moat() {
  local _moat_w _moat_cw cur i
  _moat_words
  _moat_complete
  # bash replaces only the piece after the last ":" of the word: offer what follows it (as
  # bash-completion's __ltrim_colon_completions does).
  cur="\${_moat_w[_moat_cw]}"
  if [[ $cur == *:* && \${COMP_WORDBREAKS-} == *:* ]]; then
    local prefix="\${cur%"\${cur##*:}"}"
    for ((i = 0; i < \${#COMPREPLY[@]}; i++)); do COMPREPLY[i]="\${COMPREPLY[i]#"$prefix"}"; done
  fi
  return 0
}
`;
}

function fish(entries: readonly CompletionEntry[]): string {
  const list = (words: readonly string[]): string => words.map(q).join(' ');
  const spec = entries.map(
    (e) => `        case ${q(e.path)}
            set -g __moat_subs ${list(e.subcommands)}
            set -g __moat_flags ${list(e.flags.map((f) => f.name))}
            set -g __moat_arg ${q(e.argument)}`,
  );
  const flags = flagCases(entries).map((c) => `        case ${c.labels.map(q).join(' ')}\n            echo ${q(c.kind)}`);
  return `# moat completion for fish: save as ~/.config/fish/completions/moat.fish
function __moat_spec
    set -g __moat_subs
    set -g __moat_flags
    set -g __moat_arg ''
    switch "$argv[1]"
${spec.join('\n')}
    end
end

function __moat_flag
    switch "$argv[1]|$argv[2]"
${flags.join('\n')}
    end
end

function __moat_values
    switch "$argv[1]"
        case runs grants
            $argv[3] __complete $argv[1] 2>/dev/null
        case dirs
            __fish_complete_directories "$argv[2]"
        case files
            __fish_complete_path "$argv[2]"
        case 'words:*'
            string split ' ' -- (string replace 'words:' '' -- "$argv[1]")
    end
end

function __moat_candidates
    set -l toks (commandline -opc)
    set -l cur (commandline -ct)
    set -l bin $toks[1]
    set -l cmdpath ''
    set -l n (count $toks)
    set -l i 2
    while test $i -le $n
        set -l w $toks[$i]
        test "$w" = '--'; and return
        if string match -q -- '-*' "$w"
            set -l val (__moat_flag "$cmdpath" "$w")
            if test -n "$val"; and not string match -q -- '*=*' "$w"
                if test $i -eq $n
                    __moat_values $val "$cur" $bin
                    return
                end
                set i (math $i + 1)
            end
        else
            __moat_spec "$cmdpath"
            if contains -- "$w" $__moat_subs
                set cmdpath (string trim -- "$cmdpath $w")
            end
        end
        set i (math $i + 1)
    end
    __moat_spec "$cmdpath"
    if string match -q -- '-*' "$cur"
        printf '%s\\n' $__moat_flags
        return
    end
    printf '%s\\n' $__moat_subs
    test -n "$__moat_arg"; and __moat_values $__moat_arg "$cur" $bin
end

complete -c moat -f -a '(__moat_candidates)'
`;
}

/** The script for `shell`, printed by `moat completion SHELL`. */
export function renderCompletion(shell: Shell, entries: readonly CompletionEntry[]): string {
  switch (shell) {
    case 'bash':
      return `# moat completion for bash: source it from ~/.bashrc, or save it as
# ~/.local/share/bash-completion/completions/moat
${bash(entries)}
complete -F _moat moat
`;
    case 'zsh':
      return `#compdef moat
# moat completion for zsh: save it as _moat in a folder of $fpath (or source it from ~/.zshrc)
autoload -U +X bashcompinit && bashcompinit
${bash(entries)}
complete -F _moat moat
`;
    case 'fish':
      return fish(entries);
  }
}
