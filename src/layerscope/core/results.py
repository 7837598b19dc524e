"""The one result protocol: every verb's result has ``to_dict()``, ``save(out, overwrite=)``, ``summary()`` and a
notebook display.

>>> import json, tempfile
>>> class Count(Result):
...     index_name = "count.json"
...     def __init__(self, n): self.n = n
...     def to_dict(self): return {"n": self.n}
...     def summary(self): return f"{self.n} things"
...     def write_files(self, folder): folder.write(b"x" * self.n, "things.bin")
>>> out = Count(3).save(tempfile.mkdtemp() + "/c")
>>> sorted(p.name for p in out.iterdir()), json.loads((out / "count.json").read_text())["files"]
(['count.json', 'things.bin'], ['things.bin'])

Saving goes through :class:`~layerscope.core.outputs.OutputFolder`, so it follows the one rule of
output folders for every verb.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Union

from .display import Displayable
from .outputs import OutputFolder

__all__ = ["Result"]


class Result(Displayable):
    """Base of the verbs' results. Subclasses define :meth:`to_dict` and :meth:`summary`, and
    :meth:`write_files` when they have files besides the index (``index_name``)."""

    index_name: ClassVar[str] = "index.json"

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def summary(self) -> str:
        raise NotImplementedError

    def write_files(self, folder: OutputFolder) -> None:
        """Write the result's files (pictures, tables) into ``folder``; the index is written after."""

    def save(self, out: Union[str, Path], *, overwrite: bool = False) -> Path:
        """Write the result under ``out`` (its files, then its index); returns ``out`` as a Path."""
        folder = OutputFolder(out, self.index_name, overwrite=overwrite)
        self.write_files(folder)
        folder.finish(self.to_dict())
        return folder.out
