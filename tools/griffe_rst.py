"""A griffe extension for the documentation site (mkdocs.yml): layerscope's docstrings, read as Markdown.

The docstrings are written for ``help()`` and doctest: reST roles (``:func:`capture```), ``Example::``
literal blocks and ``>>>`` sessions. :func:`markdown_of` turns those three into Markdown, so the API
reference shows doctests as code and not as paragraphs (where ``[0, 1]`` would read as a link).

>>> print(markdown_of("See :func:`~layerscope.run.capture` and :class:`Run <layerscope.run.Run>`."))
See `capture` and `Run`.
>>> markdown_of("Sum:\\n\\n>>> 1 + 1\\n2\\n\\nDone.").splitlines()
['Sum:', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Done.']
>>> print(markdown_of("Example::\\n\\n    layerscope demo\\n\\nAfter."))
Example:
<BLANKLINE>
```text
layerscope demo
```
<BLANKLINE>
After.
"""

from __future__ import annotations

import re
import textwrap

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const):`(~?)([^`<]*?)\s*(?:<([^`>]*)>)?`")


def _role(match: re.Match) -> str:
    """A role as inline code: its explicit title, else its target (``~``: the target's last name)."""
    tilde, text, target = match.groups()
    if target is not None and text:
        return f"`{text}`"
    name = text or target or ""
    return f"`{name.rsplit('.', 1)[-1] if tilde else name}`"


def markdown_of(text: str) -> str:
    """``text`` (a docstring) with reST roles as code, ``>>>`` sessions and ``::`` literal blocks as fences."""
    text = ROLE.sub(_role, text)
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].strip())
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        if line.rstrip().endswith("::") and not line.strip().startswith(".."):
            head = line.rstrip()[:-1]
            out.append(head if head.strip() else "")
            i += 1
            body = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith((" ", "\t"))):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            if body:
                out += ["", "```text", *textwrap.dedent("\n".join(body)).strip("\n").splitlines(), "```", ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every loaded docstring with :func:`markdown_of`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:  # noqa: D401
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
