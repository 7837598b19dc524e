"""``--fail-on`` gates: a tiny, safe parser (no eval) for expressions like ``dead>0.2 or verdict==bad``.

>>> gate = parse_gate("dead>0.2, noisy>=50%")
>>> gate.text
'(dead > 0.2) or (noisy >= 0.5)'

Grammar: ``expr := term (("or" | ",") term)*``, ``term := atom ("and" atom)*``,
``atom := FIELD OP VALUE | "(" expr ")"``, ``OP`` one of ``> >= < <= == !=``.
A per-layer field (a share of channels, or ``verdict``, ``noise``) holds when it
holds for ANY diagnosed layer; ``inputs`` counts the input findings of severity
warning or error; ``tendency`` is the model-level label.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InputError, did_you_mean

__all__ = ["parse_gate", "Gate", "FIELDS"]

SHARES = ("dead", "uniform", "noisy", "saturated", "nonfinite", "exploding", "inert")
FIELDS = SHARES + ("noise", "verdict", "inputs", "tendency")
_WORDS = {
    "verdict": ("good", "suspicious", "bad"),
    "tendency": ("trained", "unclear", "untrained", "unknown"),
}
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne}
_TOKEN = re.compile(r"\s*(?:(?P<op>>=|<=|==|!=|>|<)|(?P<punct>[(),])|(?P<num>\d+(?:\.\d*)?(?:e-?\d+)?%?|\.\d+%?)"
                    r"|(?P<word>[A-Za-z_][A-Za-z_]*)|(?P<bad>\S))")


def _accepted() -> str:
    return (f"fields {', '.join(FIELDS)}; operators {' '.join(_OPS)}; values: numbers (0.2 or 20%), "
            f"verdict good/suspicious/bad, tendency trained/unclear/untrained/unknown; join with and / or / ','")


def _error(expression: str, token: str, why: str, hint: str = "") -> InputError:
    return InputError(f"--fail-on {expression!r}: {why} at {token!r}. Accepted: {_accepted()}.{hint} "
                      f"Example: --fail-on \"dead>0.2 or verdict==bad\"")


def _tokens(expression: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        kind = match.lastgroup
        if kind == "bad":
            raise _error(expression, match.group(kind), "unexpected character")
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


@dataclass(frozen=True)
class Gate:
    """A parsed expression: call it with a :class:`~layerscope.diagnosis.result.Diagnosis` -> bool."""

    text: str
    test: Callable[[Any], bool]

    def __call__(self, diagnosis: Any) -> bool:
        return bool(self.test(diagnosis))


def _layer_values(diagnosis: Any, field: str) -> list[Any]:
    if field in SHARES:
        return [layer.shares.get(field, 0.0) for layer in diagnosis.layers]
    if field == "noise":
        return [layer.noise for layer in diagnosis.layers if layer.noise is not None]
    return [layer.verdict for layer in diagnosis.layers]


def _atom(field: str, op: str, value: Any) -> Callable[[Any], bool]:
    compare = _OPS[op]
    if field == "verdict":
        order = _WORDS["verdict"].index
        return lambda d: any(compare(order(v), order(value)) for v in _layer_values(d, field))
    if field == "tendency":
        return lambda d: compare(d.tendency.label, value)
    if field == "inputs":
        return lambda d: compare(sum(f.severity != "info" for f in d.input_findings), value)
    return lambda d: any(compare(v, value) for v in _layer_values(d, field))


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokens(expression)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "end of expression")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def _chain(self, item, separators: tuple, word: str, combine) -> tuple[str, Callable]:
        """``item (separator item)*`` folded with ``combine`` (any / all)."""
        parts = [item()]
        while self.peek()[1].lower() in separators:
            self.take()
            parts.append(item())
        if len(parts) == 1:
            return parts[0]
        tests = [test for _, test in parts]
        return f" {word} ".join(f"({text})" for text, _ in parts), lambda d: combine(t(d) for t in tests)

    def expr(self) -> tuple[str, Callable]:
        return self._chain(self.term, ("or", ","), "or", any)

    def term(self) -> tuple[str, Callable]:
        return self._chain(self.atom, ("and",), "and", all)

    def atom(self) -> tuple[str, Callable]:
        kind, token = self.take()
        if (kind, token) == ("punct", "("):
            inner = self.expr()
            if self.peek() != ("punct", ")"):
                raise _error(self.expression, self.peek()[1], "expected ')'")
            self.take()
            return inner
        field = token.lower()
        if kind != "word" or field not in FIELDS:
            raise _error(self.expression, token, "expected a field name", did_you_mean(field, FIELDS))
        kind, op = self.take()
        if kind != "op":
            raise _error(self.expression, op, f"expected an operator after {field!r}")
        kind, raw = self.take()
        value = self._value(field, op, kind, raw)
        return f"{field} {op} {value if isinstance(value, str) else format(value, 'g')}", _atom(field, op, value)

    def _value(self, field: str, op: str, kind: str, raw: str) -> Any:
        if field in _WORDS:
            word = raw.lower()
            if kind != "word" or word not in _WORDS[field]:
                raise _error(self.expression, raw, f"{field} takes one of {'/'.join(_WORDS[field])}",
                             did_you_mean(word, _WORDS[field]))
            if field == "tendency" and op not in ("==", "!="):
                raise _error(self.expression, op, "tendency only takes == or !=")
            return word
        if kind != "num":
            raise _error(self.expression, raw, f"{field} takes a number")
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        if field in SHARES and value > 1:
            fix = f"write {field}{op}{raw}% (percent needs the % sign) or" if not raw.endswith("%") else "write"
            raise InputError(
                f"--fail-on {self.expression!r}: {raw!r} is more than all the channels; {field} is a share of "
                f"channels from 0 to 1, so it can never hold. For a percentage {fix} the fraction, e.g. "
                f"{field}{op}0.2 for 20%."
            )
        return value


def parse_gate(expression: str) -> Gate:
    """Parse a ``--fail-on`` expression; an invalid one raises InputError naming the bad token."""
    if not isinstance(expression, str) or not expression.strip():
        raise InputError(f"--fail-on needs an expression, got {expression!r}. Accepted: {_accepted()}.")
    parser = _Parser(expression)
    text, test = parser.expr()
    if parser.pos < len(parser.tokens):
        raise _error(expression, parser.peek()[1], "unexpected extra text")
    return Gate(text, test)
