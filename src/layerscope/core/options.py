"""Option objects: frozen dataclasses, validated once when made, built from keywords or CLI flags alike.

>>> from dataclasses import dataclass, field
>>> @dataclass(frozen=True)
... class Speed(Options):
...     batch_size: int = field(default=8, metadata={"help": "inputs per forward pass"})
...     def __post_init__(self):
...         positive_int(self, "batch_size")
>>> Speed.of(None, batch_size=4)
Speed(batch_size=4)
>>> Speed.of(Speed(), batsh_size=4)
Traceback (most recent call last):
...
layerscope.errors.InputError: Unknown Speed option 'batsh_size'. Did you mean 'batch_size'? Use: batch_size.
>>> import argparse
>>> parser = argparse.ArgumentParser(); Speed.add_flags(parser)
>>> Speed.from_flags(parser.parse_args(["--batch-size", "2"]))
Speed(batch_size=2)

A field's ``metadata`` gives its flag: ``help`` (required for a flag), ``flag`` (default:
``--field-name``), ``type``, ``choices``, ``action``. A flag's default is ``argparse.SUPPRESS``, so a
flag the user left out keeps the object's own default: the CLI and the library cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Mapping, Optional, Sequence, TypeVar

from ..errors import InputError, did_you_mean

__all__ = ["Options", "positive_int", "share_out"]

T = TypeVar("T", bound="Options")


class Options:
    """Base of the option dataclasses (``@dataclass(frozen=True)`` subclasses)."""

    @classmethod
    def of(cls: type[T], options: Optional[T] = None, **fields: Any) -> T:
        """``options`` (None: the defaults) with ``fields`` replacing its fields."""
        if options is not None and not isinstance(options, cls):
            raise InputError(f"options must be a {cls.__name__}, got {type(options).__name__}; pass the fields as "
                             f"keywords instead, or {cls.__name__}(**fields).")
        base = options if options is not None else cls()
        return base.replace(**fields) if fields else base

    def replace(self: T, **changes: Any) -> T:
        """A copy with ``changes``, validated again; an unknown name is an error with the names to use."""
        names = [f.name for f in dataclasses.fields(self) if f.init]  # type: ignore[arg-type]
        unknown = [name for name in changes if name not in names]
        if unknown:
            raise InputError(f"Unknown {type(self).__name__} option {unknown[0]!r}."
                             f"{did_you_mean(unknown[0], names)} Use: {', '.join(names)}.")
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    @classmethod
    def split(cls, fields: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(mine, rest)``: the keywords that name this class's fields, and the others."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
        return ({k: v for k, v in fields.items() if k in names}, {k: v for k, v in fields.items() if k not in names})

    @classmethod
    def from_flags(cls: type[T], flags: Any, base: Optional[T] = None) -> T:
        """``base`` with the parsed flags (an ``argparse.Namespace`` or a dict) whose names are fields."""
        values = flags if isinstance(flags, Mapping) else vars(flags)
        return cls.of(base, **cls.split(values)[0])

    @classmethod
    def add_flags(cls, parser: Any, *, skip: tuple[str, ...] = ()) -> None:
        """Add one flag per field that has ``metadata["help"]`` (default SUPPRESS: the field keeps its default);
        ``metadata["flag"]`` names it when the field's name is not the flag, a tuple gives aliases too."""
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            meta = f.metadata
            if "help" not in meta or f.name in skip:
                continue
            kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": meta["help"]}
            for key in ("type", "choices", "action", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
            if "type" not in kwargs and "action" not in kwargs and type(f.default) in (int, float):
                kwargs["type"] = type(f.default)  # otherwise the type of the default
            flags = meta.get("flag", "--" + f.name.replace("_", "-"))  # a name, or a tuple: the name and its aliases
            parser.add_argument(*((flags,) if isinstance(flags, str) else flags), **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-able values (paths and devices as strings)."""
        return {f.name: (v if isinstance(v, (bool, int, float, type(None), list, dict)) else str(v))
                for f in dataclasses.fields(self) for v in [getattr(self, f.name)]}  # type: ignore[arg-type]


def share_out(verb: str, fields: Mapping[str, Any], *kinds: type, extra: Sequence[str] = ()) -> list[dict[str, Any]]:
    """``fields`` (a verb's keywords) shared out among the option classes ``kinds``: one dict each, in order (a
    name goes to the first class that has it), then one dict of the names in ``extra`` (keywords the verb takes
    itself). Any other name is an InputError naming it, the close names and every accepted one: the one rule of
    every verb that takes option objects and their fields as keywords.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Speed(Options):
    ...     batch_size: int = 8
    >>> share_out("run", {"batch_size": 4, "layouts": {}}, Speed, extra=("layouts",))
    [{'batch_size': 4}, {'layouts': {}}]
    >>> share_out("run", {"batchsize": 4}, Speed)
    Traceback (most recent call last):
    ...
    layerscope.errors.InputError: run() got an unknown keyword 'batchsize'. Did you mean 'batch_size'? Use any of: batch_size.
    """
    out, rest = [], dict(fields)
    for kind in kinds:
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        out.append({k: v for k, v in rest.items() if k in names})
        rest = {k: v for k, v in rest.items() if k not in names}
    out.append({k: rest.pop(k) for k in list(rest) if k in extra})
    if rest:
        name = next(iter(rest))
        known = [f.name for kind in kinds for f in dataclasses.fields(kind) if f.init] + list(extra)
        raise InputError(f"{verb}() got an unknown keyword {name!r}.{did_you_mean(name, known)} Use any of: "
                         f"{', '.join(known)}.")
    return out


def positive_int(options: Any, name: str, *, allow_none: bool = False) -> None:
    """Raise InputError unless ``options.<name>`` is an int >= 1 (or None when ``allow_none``)."""
    value = getattr(options, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name}={value!r} must be an int of at least 1.")
