"""Shell completion scripts for bash, zsh and fish, generated from gitexp's argparse parser.

Why generated here rather than by a library: shtab writes bash and zsh (and tcsh) but no
fish; argcomplete covers all three but answers every Tab by starting Python, importing
gitexp and building the whole parser (all command modules: a few hundred ms per Tab),
and needs a hook in gitexp's start-up.  The scripts below are static: commands and
options are written into them from the parser, and only run references are looked up at
Tab time, by ``git for-each-ref`` over ``refs/gitexp/runs`` (ids, plus the name each
run's commit subject carries: ``gitexp: NAME event (status)``), with no Python at all.
Ordinary commands never load this module.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field

# What a value or a positional argument is completed with.
FILE, RUN, REMOTE, COMMAND, WORDS, NONE = "file", "run", "remote", "command", "words", "none"

_FILE_DESTS = frozenset({"config", "file", "output", "out", "include", "paths", "dir"})


@dataclass
class Option:
    flags: list[str]
    help: str
    takes_value: bool
    kind: str = NONE
    words: list[str] = field(default_factory=list)


@dataclass
class Command:
    name: str
    help: str
    options: list[Option]
    positionals: set[str]  # the kinds of its positional arguments
    words: list[str] = field(default_factory=list)


def _kind(action: argparse.Action) -> str:
    metavar = str(action.metavar or "")
    if action.choices:
        return WORDS
    if metavar.startswith("RUN"):
        return RUN
    if metavar == "REMOTE" or (action.dest == "remote" and metavar == "NAME"):
        return REMOTE
    if action.nargs == argparse.REMAINDER:
        return COMMAND
    if metavar in ("FILE", "PATH", "DIR") or action.dest in _FILE_DESTS:
        return FILE
    return NONE


def describe(parser: argparse.ArgumentParser) -> list[Command]:
    """Every subcommand of the full parser with its options and what completes them."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in subparsers._choices_actions}
    commands = []
    for name, sub in subparsers.choices.items():
        options: list[Option] = []
        positionals: set[str] = set()
        words: list[str] = []
        for action in sub._actions:
            if action.option_strings:
                options.append(
                    Option(
                        list(action.option_strings),
                        _plain(action.help),
                        action.nargs != 0,
                        _kind(action),
                        [str(c) for c in action.choices or ()],
                    )
                )
            else:
                positionals.add(_kind(action))
                words += [str(c) for c in action.choices or ()]
        commands.append(Command(name, _plain(helps.get(name)), options, positionals, words))
    return commands


def _plain(text: str | None) -> str:
    """A help text on one line, without characters the shells' syntaxes treat specially."""
    text = re.sub(r"\s+", " ", (text or "").split(" (default")[0]).strip()
    return re.sub(r"[^A-Za-z0-9 ,.;/+=_()-]", "", text.replace("%%", "%"))


# A run reference at Tab time: every run id, the run's name from its commit subject,
# and `latest`.  Names that are not plain words are left out (a shell would split them).
_RUNS_PIPELINE = (
    "git for-each-ref --format='%(refname:lstrip=3) %(subject)' refs/gitexp/runs 2>/dev/null"
    " | awk '{ print $1; if ($2 == \"gitexp:\" && $3 ~ /^[A-Za-z0-9._=+-]+$/) print $3 }';"
    " echo latest"
)


def bash(commands: list[Command]) -> str:
    arms = []
    for command in commands:
        flags = " ".join(flag for option in command.options for flag in option.flags)
        cases = []
        for option in command.options:
            if not option.takes_value:
                continue
            reply = {
                FILE: "_gitexp_files",
                RUN: '_gitexp_words "$(_gitexp_runs)"',
                REMOTE: '_gitexp_words "$(git remote 2>/dev/null)"',
                WORDS: f"_gitexp_words '{' '.join(option.words)}'",
            }.get(option.kind, ":")  # a free value: nothing to offer
            cases.append(f"            {'|'.join(option.flags)}) {reply}; return ;;")
        positional = _bash_positional(command)
        arms.append(
            f"    {command.name})\n"
            f"        case $prev in\n"
            + "\n".join(cases)
            + ("\n" if cases else "")
            + "        esac\n"
            f'        if [[ $cur == -* ]]; then _gitexp_words "{flags}"; else {positional}; fi\n'
            "        ;;"
        )
    names = " ".join(command.name for command in commands)
    return _BASH.format(runs=_RUNS_PIPELINE, commands=names, arms="\n".join(arms))


def _bash_positional(command: Command) -> str:
    """Candidates for a positional word: runs, remotes, choices, then files or commands."""
    sources = []
    if RUN in command.positionals:
        sources.append("$(_gitexp_runs)")
    if REMOTE in command.positionals:
        sources.append("$(git remote 2>/dev/null)")
    if WORDS in command.positionals:
        sources.append(" ".join(command.words))
    reply = f'_gitexp_words "{" ".join(sources)}"' if sources else "COMPREPLY=()"
    if command.positionals & {FILE, COMMAND}:
        reply += '; COMPREPLY+=($(compgen -f -- "$cur"))'
    return reply


_BASH = """\
# bash completion for gitexp, written by `gitexp completion bash`.
# Install: gitexp completion bash > ~/.local/share/bash-completion/completions/gitexp

_gitexp_runs() {{
    {runs}
}}

_gitexp_words() {{
    local IFS=$' \\t\\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}}

_gitexp_files() {{
    COMPREPLY=($(compgen -f -- "$cur"))
}}

_gitexp() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev=${{COMP_WORDS[COMP_CWORD-1]}}
    local cmd="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${{COMP_WORDS[i]}} in
            -*) ;;
            *) cmd=${{COMP_WORDS[i]}}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        _gitexp_words "{commands} --help --version"
        return
    fi
    for ((i = i + 1; i < COMP_CWORD; i++)); do
        if [[ ${{COMP_WORDS[i]}} == -- ]]; then  # the recorded command's own words
            COMPREPLY=($(compgen -c -- "$cur") $(compgen -f -- "$cur"))
            return
        fi
    done
    case $cmd in
{arms}
    esac
}}

complete -o default -F _gitexp gitexp
"""


def zsh(commands: list[Command]) -> str:
    described = "\n".join(f"    '{c.name}:{c.help}'" for c in commands)
    arms = []
    for command in commands:
        specs = []
        for option in command.options:
            action = {
                FILE: "_files",
                RUN: "_gitexp_runs",
                REMOTE: "_gitexp_remotes",
                WORDS: f"({' '.join(option.words)})",
            }.get(option.kind, " ")
            value = f":{option.flags[-1].lstrip('-')}:{action}" if option.takes_value else ""
            repeat = "*" if option.takes_value and option.kind != WORDS else ""
            for flag in option.flags:
                specs.append(f"'{repeat}{flag}[{option.help}]{value}'")
        specs += _zsh_positionals(command)
        body = " \\\n                ".join(specs)
        arms.append(f"        {command.name}) _arguments -s {body} ;;")
    return _ZSH.format(runs=_RUNS_PIPELINE, described=described, arms="\n".join(arms))


def _zsh_positionals(command: Command) -> list[str]:
    kinds = command.positionals
    if COMMAND in kinds:
        return ["'*::command:_normal'"]
    if WORDS in kinds:
        return [f"'1:{command.name}:({' '.join(command.words)})'"]
    actions = [a for k, a in ((RUN, "_gitexp_runs"), (REMOTE, "_gitexp_remotes")) if k in kinds]
    if FILE in kinds:
        actions.append("_files")
    if not actions:
        return []
    if len(actions) == 1:
        return [f"'*:argument:{actions[0]}'"]
    alternatives = " ".join(f'"{a.strip("_")}:{a.strip("_")}:{a}"' for a in actions)
    return [f"'*:argument:_alternative {alternatives}'"]


_ZSH = """\
#compdef gitexp
# zsh completion for gitexp, written by `gitexp completion zsh`.
# Install: gitexp completion zsh > "${{fpath[1]}}/_gitexp" (then start a new shell)

_gitexp_runs() {{
    local -a runs
    runs=(${{(f)"$({runs})"}})
    compadd -a runs
}}

_gitexp_remotes() {{
    local -a remotes
    remotes=(${{(f)"$(git remote 2>/dev/null)"}})
    compadd -a remotes
}}

_gitexp() {{
    local -a commands
    commands=(
{described}
    )
    if (( CURRENT == 2 )); then
        _describe -t commands 'gitexp command' commands
        return
    fi
    local cmd=$words[2]
    shift words
    (( CURRENT-- ))
    case $cmd in
{arms}
    esac
}}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
    _gitexp "$@"
else
    compdef _gitexp gitexp
fi
"""


def fish(commands: list[Command]) -> str:
    lines = [
        "# fish completion for gitexp, written by `gitexp completion fish`.",
        "# Install: gitexp completion fish > ~/.config/fish/completions/gitexp.fish",
        "",
        "function __gitexp_runs",
        f"    {_RUNS_PIPELINE}",
        "end",
        "",
        "complete -c gitexp -f",
        "complete -c gitexp -n __fish_use_subcommand -l version -d 'print the version'",
    ]
    for command in commands:
        lines.append(
            f"complete -c gitexp -n __fish_use_subcommand -a {command.name} -d '{command.help}'"
        )
    for command in commands:
        when = f"-n '__fish_seen_subcommand_from {command.name}'"
        for option in command.options:
            flags = " ".join(
                f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
                for flag in option.flags
            )
            value = {
                FILE: "-r -F",
                RUN: "-x -a '(__gitexp_runs)'",
                REMOTE: "-x -a '(git remote 2>/dev/null)'",
                WORDS: f"-x -a '{' '.join(option.words)}'",
            }.get(option.kind, "-x")
            value = value if option.takes_value else ""
            lines.append(f"complete -c gitexp {when} {flags} {value} -d '{option.help}'")
        lines += [f"complete -c gitexp {when} {spec}" for spec in _fish_positionals(command)]
    return "\n".join(lines) + "\n"


def _fish_positionals(command: Command) -> list[str]:
    kinds = command.positionals
    specs = []
    if RUN in kinds:
        specs.append("-a '(__gitexp_runs)'")
    if REMOTE in kinds:
        specs.append("-a '(git remote 2>/dev/null)'")
    if WORDS in kinds:
        specs.append(f"-a '{' '.join(command.words)}'")
    if COMMAND in kinds:
        specs.append("-a '(__fish_complete_subcommand -- --)'")
    if kinds & {FILE, COMMAND}:
        specs.append("-F")
    return specs


SHELLS = {"bash": bash, "zsh": zsh, "fish": fish}
