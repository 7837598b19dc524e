"""Write docs/reference/cli.md, the command-line reference, from the ``layerscope`` command's own parsers.

    python tools/cli_reference.py            # rewrites docs/reference/cli.md
    python tools/cli_reference.py --check    # exit 1 when the committed page is not the parsers' output

Every command, in the order of :data:`layerscope.cli.COMMANDS`: its one-line help, description, usage, every flag
(with its help, choices and default, in the groups of ``--help``) and its epilog (the examples). The page is
generated, so it says what ``--help`` says; tests/test_docs.py checks that the committed page is current.

>>> page = reference()
>>> page.startswith("# Command line") and "## layerscope demo" in page and "`--out DIR`" in page
True
>>> cell("a | b, [0, 1], *x* and `a_b`")
'a \\\\| b, \\\\[0, 1\\\\], \\\\*x\\\\* and `a_b`'
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from contextlib import contextmanager
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "cli.md"
WIDTH = "100"  # the terminal width the usage lines and epilogs are wrapped to

HEADER = """# Command line

Generated from the parsers by `python tools/cli_reference.py` (a test checks that this page is current): what
`layerscope COMMAND --help` prints, as tables. Every command exits with 0 when it did its work, 2 on bad usage or
input (any `LayerscopeError`: the message names the fix) and 1 on an internal error (a bug: the traceback is
printed); `layerscope diagnose --fail-on` adds 3 when its gate holds.

"""


@contextmanager
def _fixed_terminal():
    """argparse wraps to the terminal's width (and may colour): fix both, so the page is the same everywhere."""
    saved = {key: os.environ.get(key) for key in ("COLUMNS", "NO_COLOR")}
    os.environ.update(COLUMNS=WIDTH, NO_COLOR="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cell(text: str) -> str:
    """``text`` for a Markdown table cell: Markdown's special characters escaped outside `code` spans."""
    parts = re.split(r"(`[^`]*`)", " ".join(text.split()))
    return "".join(part if part.startswith("`") else re.sub(r"([\\|\[\]*_<>])", r"\\\1", part) for part in parts)


def _flag(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return f"`{', '.join(action.option_strings)}`"
    metavar = action.metavar or (action.dest.upper() if not action.choices else "{" + ",".join(map(str, action.choices)) + "}")
    if isinstance(metavar, tuple):
        metavar = " ".join(metavar)
    return f"`{', '.join(action.option_strings)} {metavar}`"


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
        return ""
    return f"`{action.default!r}`" if not isinstance(action.default, str) else f"`{action.default}`"


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    text = parser._get_formatter()._expand_help(action) if action.help else ""
    if action.choices is not None and action.option_strings:
        choices = ", ".join(f"`{choice}`" for choice in action.choices)
        text = f"{cell(text)} (one of {choices})" if text else f"one of {choices}"
        return text
    return cell(text)


def _command(name: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    lines = [f"## layerscope {name}", ""]
    if summary:
        lines += [cell(summary[:1].upper() + summary[1:]) + ".", ""]
    if parser.description:
        lines += [cell(parser.description), ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        title = "options" if group.title in (None, "optional arguments") else group.title  # Python 3.10 said "optional"
        lines += [f"**{cell(title)}**", "", "| flag | what it does | default |", "|---|---|---|"]
        lines += [f"| {_flag(a)} | {_help(parser, a)} | {_default(a)} |" for a in actions]
        lines.append("")
    if parser.epilog:
        formatter = parser._get_formatter()
        formatter.add_text(parser.epilog)
        lines += ["```text", formatter.format_help().strip("\n"), "```", ""]
    return lines


def reference() -> str:
    """The page: the top-level command, then each subcommand."""
    from layerscope.cli import COMMANDS, _parser

    with _fixed_terminal():
        parser = _parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        summaries = {choice.dest: choice.help or "" for choice in sub._choices_actions}
        lines = [HEADER.rstrip("\n"), "", "```text", parser.format_usage().strip(), "```", "",
                 "| command | what it does |", "|---|---|"]
        lines += [f"| [`{name}`](#layerscope-{name}) | {cell(summaries.get(name, ''))} |" for name in COMMANDS]
        lines.append("")
        for name in COMMANDS:
            lines += _command(name, sub.choices[name], summaries.get(name, ""))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args.add_argument("--check", action="store_true", help="exit 1 when the committed page is not current")
    options = args.parse_args(argv)
    page = reference()
    if options.check:
        current = PAGE.exists() and PAGE.read_text() == page
        print(f"{PAGE} is {'current' if current else 'stale: run python tools/cli_reference.py'}")
        return 0 if current else 1
    PAGE.write_text(page)
    print(f"wrote {PAGE} ({len(page.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
