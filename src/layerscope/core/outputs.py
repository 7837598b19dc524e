"""The one owner of output folders: what layerscope may write, replace and delete, with one rule and one message.

>>> import json, tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> _ = (out / "mine.txt").write_text("keep")
>>> folder = OutputFolder(out, "index.json")
>>> folder.write(b"png", "a/x.png").name
'x.png'
>>> sorted(folder.finish({"layerscope_version": "0"})["files"])
['a/x.png']
>>> again = OutputFolder(out, "index.json")          # a second, different run into the same folder
>>> _ = again.write(b"png", "b/y.png"); sorted(again.finish({"layerscope_version": "0"})["files"])
['a/x.png', 'b/y.png']
>>> OutputFolder(out, "index.json").write(b"x", "mine.txt")
Traceback (most recent call last):
...
layerscope.errors.InputError: ... already holds mine.txt, which layerscope did not write there ...

**The rule.** A folder layerscope wrote holds an index (``index.json``, ``report.json`` ...: a JSON
object with ``layerscope_version`` and the ``files`` it owns). A run into that folder

- replaces the files it writes again (rerunning the same command replaces its own output);
- keeps the earlier run's other files and goes on listing them, so nothing is lost and a later
  run may still replace them (today's show into yesterday's folder deletes nothing it does not rewrite);
- never replaces a file layerscope did not write, unless ``overwrite`` (CLI ``--overwrite``);
- with ``overwrite``, first deletes every file the earlier index listed, so the folder holds this
  run's output alone (files layerscope never wrote are still never deleted, only replaced).

Every file goes through :func:`~layerscope.core.files.write_atomic` (temp file + rename), and the
index is written last, so an interrupted run leaves the earlier index describing what is there.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Optional, Union

from .._version import __version__
from ..errors import InputError
from .files import write_atomic

__all__ = ["OutputFolder", "previous_files", "clear_previous", "OVERWRITE_HINT"]

MARK = "layerscope_version"  # a key every index layerscope writes has
OVERWRITE_HINT = "overwrite=True (CLI: --overwrite)"


def _inside(name: str) -> Optional[str]:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return str(path)


def previous_files(out: Path, index_name: str) -> set[str]:
    """The files (relative POSIX paths) a layerscope index in ``out`` lists, plus the index; empty if none.

    An index is layerscope's when it is a JSON object with ``layerscope_version``; it lists its files
    under ``files`` (a list of relative paths inside ``out``). Paths leaving ``out`` are ignored.
    """
    try:
        data = json.loads((out / index_name).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(data, dict) or MARK not in data:
        return set()
    listed = data.get("files", [])
    inside = {_inside(p) for p in listed if isinstance(p, str)} - {None}
    return {p for p in inside if p is not None} | {index_name}


def clear_previous(out: Path, files: Iterable[str]) -> None:
    """Delete ``files`` (from :func:`previous_files`) under ``out``, the index first, then empty folders they leave."""
    files = sorted(files, key=lambda p: (not p.endswith(".json") or "/" in p, p))
    folders = set()
    for name in files:
        path = out / name
        if path.is_file() or path.is_symlink():
            path.unlink()
        folders.update(p for p in path.parents if out in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


class OutputFolder:
    """One run's writes into ``out``, under the rule of the module docstring.

    ``index`` names the run's index file; ``flag`` is what the refusal tells the user to pass.
    :meth:`claim` checks names before any work (so a clash fails fast), :meth:`write` writes one
    file atomically (and checks it), :meth:`finish` writes the index with the ``files`` it owns.
    Thread-safe: render threads may write at once.
    """

    def __init__(self, out: Union[str, Path], index: str = "index.json", *, overwrite: bool = False,
                 flag: str = OVERWRITE_HINT) -> None:
        self.out, self.index, self.overwrite, self.flag = Path(out), index, overwrite, flag
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"{self.out} exists and is not a directory; choose a directory path for the output.")
        self.owned = previous_files(self.out, index)
        if overwrite and self.owned:
            clear_previous(self.out, self.owned)
            self.owned = set()
        self.written: list[str] = []
        self._lock = threading.Lock()
        self.claim([index])  # an index file layerscope did not write is never replaced either

    def claim(self, names: Iterable[str]) -> None:
        """Raise InputError when one of ``names`` (files, or folders whose files would be replaced) exists
        and layerscope did not write it, unless ``overwrite``."""
        if self.overwrite or not self.out.exists():
            return
        taken = []
        for name in names:
            path = self.out / name
            if path.is_dir():
                taken += [p.relative_to(self.out).as_posix() for p in sorted(path.rglob("*")) if p.is_file()
                          and p.relative_to(self.out).as_posix() not in self.owned]
            elif path.exists() and name not in self.owned:
                taken.append(name)
        if taken:
            raise InputError(
                f"{self.out} already holds {', '.join(taken[:3])}{' ...' if len(taken) > 3 else ''}, which layerscope "
                f"did not write there (it replaces only the files its own {self.index} lists); pass {self.flag} to "
                f"replace them anyway, or choose a fresh output directory."
            )

    def path(self, name: str) -> Path:
        """Where ``name`` (a relative POSIX path) goes, after checking it may be written; records it."""
        inside = _inside(name)
        if inside is None:
            raise InputError(f"{name!r} is not a relative path inside the output folder.")
        self.claim([inside])
        with self._lock:
            self.written.append(inside)
        return self.out / inside

    def write(self, data: Union[bytes, list[bytes]], name: str) -> Path:
        """Write ``data`` to ``out/name`` atomically; returns the path."""
        return write_atomic(data, self.path(name), overwrite=True)

    def files(self) -> list[str]:
        """What the index lists: this run's files, then the earlier runs' files still there (not the index)."""
        mine = list(dict.fromkeys(self.written))
        kept = sorted(p for p in self.owned - set(mine) - {self.index} if (self.out / p).is_file())
        return mine + kept

    def finish(self, index: dict[str, Any], *, indent: Optional[int] = None) -> dict[str, Any]:
        """Write ``index`` (plus ``files``) as the index file, last; returns what was written."""
        content = {MARK: __version__, **index, "files": self.files()}
        text = json.dumps(content, indent=indent, default=str)
        write_atomic(text.encode("utf-8"), self.out / self.index, overwrite=True)
        return content
