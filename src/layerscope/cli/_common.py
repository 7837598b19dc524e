"""Options and loaders the commands share: MODEL + checkpoint + preprocessing, IMAGES, --layers.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_model_arguments(parser); add_layer_arguments(parser)
>>> args = parser.parse_args(["torchvision:resnet18", "--size", "160", "--layers", "conv1,layer1.*"])
>>> model_from_args(args).preprocessing.input_size, layers_from_args(args)
((160, 160), ['conv1', 'layer1.*'])

A flag that sets a field of an option object (:class:`~layerscope.run.RunOptions`,
:class:`~layerscope.run.OutputOptions`, :class:`~layerscope.render.RenderOptions`) is declared once,
beside the field (its ``metadata``), and generated here with :func:`add_option_flags`; the CLI adds
only what is the CLI's own (a parse-time message naming the flag, a command's own default).
The model is loaded ONCE (:func:`model_from_args`) and the :class:`~layerscope.io.LoadedModel` goes to
the library call, which takes it as it is.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from typing import Any, Mapping, Optional, Sequence, TextIO, Union

from ..core.options import Options
from ..dictionary import Dictionary
from ..errors import InputError
from ..io import LoadedModel, load_model
from ..io.feed import Feed
from ..io.images import DEFAULT_MAX_PIXELS
from ..io.preprocess import first_conv_channels
from ..io.specs import SPEC_FORMS
from ..render.options import RenderOptions
from ..run.options import OutputOptions, RunOptions
from ..run.subject import Subject

__all__ = [
    "examples",
    "ExamplesFormatter",
    "add_option_flags",
    "add_run_arguments",
    "add_output_arguments",
    "add_render_arguments",
    "run_options_from_args",
    "output_options_from_args",
    "add_model_arguments",
    "add_model_pair_arguments",
    "add_image_arguments",
    "add_loading_arguments",
    "add_layer_arguments",
    "model_from_args",
    "models_from_args",
    "feed_from_args",
    "layers_from_args",
    "print_preprocessing",
    "print_image_notes",
    "print_skipped_summary",
    "parse_floats",
    "parse_size",
    "parse_max_pixels",
]


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that indented lines (the examples of :func:`examples`) stay as written.

    >>> parser = argparse.ArgumentParser(prog="p", description="one long paragraph " * 3, **examples("p --go"))
    >>> parser.format_help().splitlines()[-2:]
    ['Examples:', '  p --go']
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        fill = super()._fill_text
        return "\n".join(indent + line if line.startswith("  ") else fill(line, width, indent) for line in text.split("\n"))


def examples(*lines: str) -> dict[str, Any]:
    """``add_parser`` keywords that end a command's ``--help`` with ``Examples:`` and ``lines``, one a line.

    Each line runs as written in an empty folder (``tests/cli/test_help_examples.py`` runs them all), so a
    command whose example needs inputs makes them first (``layerscope samples samples``).
    """
    return {"epilog": "Examples:\n" + "\n".join(f"  {line}" for line in lines),
            "formatter_class": ExamplesFormatter}


class _Changed:
    """Stands in for a parser or group: adds each generated flag with the CLI's changes to its keywords."""

    def __init__(self, group: Any, changes: Mapping[str, Mapping[str, Any]]) -> None:
        self.group, self.changes = group, changes

    def add_argument(self, *flags: str, **kwargs: Any) -> Any:
        kwargs.update(self.changes.get(kwargs["dest"], {}))
        return self.group.add_argument(*flags, **kwargs)


def add_option_flags(group: Any, options: type[Options], names: Optional[Sequence[str]] = None, *,
                     defaults: Optional[Mapping[str, Any]] = None,
                     changes: Optional[Mapping[str, Mapping[str, Any]]] = None) -> None:
    """The flags of the fields ``names`` of ``options`` (None: every field with a flag), generated from the fields'
    metadata by :meth:`Options.add_flags <layerscope.core.options.Options.add_flags>`.

    A generated flag left out is absent from the parsed namespace (the field keeps the default of the option
    object the command starts from), unless ``defaults`` gives it a value (a field name -> the value; the
    parsed namespace then always has it). ``changes`` (a field name -> add_argument keywords) are the CLI's own
    additions, e.g. a type that names the flag in its usage error.

    >>> parser = argparse.ArgumentParser()
    >>> add_option_flags(parser, RunOptions, ["batch_size", "strict"], defaults={"batch_size": 32})
    >>> parser.parse_args([]), parser.parse_args(["--batch-size", "4", "--strict"])
    (Namespace(batch_size=32), Namespace(batch_size=4, strict=True))
    """
    fields = {f.name: f for f in dataclasses.fields(options)}  # type: ignore[arg-type]
    chosen = [name for name in fields if "help" in fields[name].metadata] if names is None else list(names)
    unknown = [name for name in chosen if name not in fields or "help" not in fields[name].metadata]
    if unknown:  # a programming error in a command's parser, not a user's
        raise ValueError(f"{options.__name__} has no flag for {unknown}")
    options.add_flags(_Changed(group, changes or {}), skip=tuple(name for name in fields if name not in chosen))
    if defaults:
        group.set_defaults(**defaults)


def add_run_arguments(group: Any, *names: str, **defaults: Any) -> None:
    """Flags of :class:`~layerscope.run.RunOptions` (``batch_size``, ``device``, ``workers``, ``progress``, ``strict``,
    ``recursive``, ``max_pixels``), each with the command's own default when given (``batch_size=32``).

    >>> parser = argparse.ArgumentParser(); add_run_arguments(parser, "batch_size", "workers", batch_size=32)
    >>> run_options_from_args(parser.parse_args(["--workers", "2"]))
    RunOptions(batch_size=32, device=None, workers=2, progress=None, long_after=30.0, strict=False, recursive=False, max_pixels=89478485)
    """
    add_option_flags(group, RunOptions, names, defaults=defaults,
                     changes={"max_pixels": {"type": _max_pixels_type, "metavar": "N"},
                              "device": {"metavar": "DEV"}, "batch_size": {"metavar": "N"},
                              "workers": {"metavar": "N"}})


def add_output_arguments(group: Any) -> None:
    """--overwrite, from :class:`~layerscope.run.OutputOptions` (False when left out)."""
    add_option_flags(group, OutputOptions, ["overwrite"], defaults={"overwrite": False})


def add_render_arguments(group: Any, names: Optional[Sequence[str]] = None) -> None:
    """The flags of :class:`~layerscope.render.RenderOptions` (``names``: some of its fields; None: all with a flag).
    A flag left out keeps the field of the command's own defaults: ``RenderOptions.from_flags(args, base=...)``.

    >>> parser = argparse.ArgumentParser(); add_render_arguments(parser)
    >>> RenderOptions.from_flags(parser.parse_args(["--range", "0,2", "--normalize", "global", "--no-caption"]))
    RenderOptions(normalize='global', percentiles=None, value_range=(0.0, 2.0), cmap='viridis', max_channels=None, order='index', labels=None, caption=False, colorbar=None, scale=1, min_tile=0, padding=1, columns=None, channels=None)
    """
    add_option_flags(group, RenderOptions, names)


def run_options_from_args(args: argparse.Namespace, base: Optional[RunOptions] = None) -> RunOptions:
    """``base`` (None: the defaults) with the parsed run flags (validated: InputError names the bad value)."""
    return RunOptions.from_flags(args, base)


def output_options_from_args(args: argparse.Namespace, base: Optional[OutputOptions] = None) -> OutputOptions:
    """``base`` with --out and --overwrite as parsed."""
    return OutputOptions.from_flags(args, base)


def add_model_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Positional MODEL (``required=False``: may be left out) plus --checkpoint, --trust-checkpoint, --size, --mean,
    --std, --grayscale, --device."""
    parser.add_argument("model", metavar="MODEL", nargs=None if required else "?",
                        help=f"the model: {SPEC_FORMS}; or a saved whole-module file")
    group = parser.add_argument_group("model and preprocessing")
    group.add_argument("--checkpoint", metavar="PATH", help="weights to load into MODEL (safetensors or torch.save state dict)")
    _add_loading_arguments(group, "the model sees")


def add_model_pair_arguments(parser: argparse.ArgumentParser) -> None:
    """Positional MODEL_A MODEL_B plus --checkpoint-a, --checkpoint-b and the shared loading flags.

    >>> parser = argparse.ArgumentParser(); add_model_pair_arguments(parser)
    >>> args = parser.parse_args(["builtin:digits", "builtin:digits", "--checkpoint-b", "e9.safetensors"])
    >>> args.model_a, args.checkpoint_a, args.checkpoint_b
    ('builtin:digits', None, 'e9.safetensors')
    """
    parser.add_argument("model_a", metavar="MODEL_A", help=f"the first model (A, the reference): {SPEC_FORMS}")
    parser.add_argument("model_b", metavar="MODEL_B", help="the second model (B); the same spec again to compare two "
                        "checkpoints of one architecture")
    group = parser.add_argument_group("models and preprocessing (size, mean, std, grayscale and device apply to both)")
    group.add_argument("--checkpoint-a", metavar="PATH", help="weights to load into MODEL_A")
    group.add_argument("--checkpoint-b", metavar="PATH", help="weights to load into MODEL_B")
    _add_loading_arguments(group, "both models see")


def _add_loading_arguments(group, who: str) -> None:
    group.add_argument(
        "--trust-checkpoint",
        action="store_true",
        help="allow checkpoints that run code when loaded (TorchScript, .pt2, whole pickles); only for files you trust",
    )
    group.add_argument("--size", metavar="N", help=f"input size {who}: N or HxW (overrides the model's own)")
    group.add_argument("--mean", metavar="A,B,C", help="normalization mean, one value per channel (or one for all)")
    group.add_argument("--std", metavar="A,B,C", help="normalization std, one value per channel (or one for all)")
    group.add_argument("--grayscale", action="store_true", help="feed 1-channel grayscale input")
    add_run_arguments(group, "device", device=None)


def add_image_arguments(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Positional IMAGES... (``required=False``: zero or more) plus --strict, --recursive and --max-pixels."""
    parser.add_argument("images", metavar="IMAGES", nargs="+" if required else "*",
                        help="image files, directories or glob patterns")
    add_loading_arguments(parser)


def add_loading_arguments(parser: argparse.ArgumentParser, *, recursive: bool = True) -> None:
    """--strict, --recursive (unless ``recursive=False``) and --max-pixels, for commands that read images."""
    group = parser.add_argument_group("images")
    names = ("strict", "recursive", "max_pixels") if recursive else ("strict", "max_pixels")
    add_run_arguments(group, *names, **{name: getattr(RunOptions(), name) for name in names})


def _max_pixels_type(text: str) -> Optional[int]:
    try:
        return parse_max_pixels(text)
    except InputError as err:  # argparse reports it as a usage error (exit 2) with this message
        raise argparse.ArgumentTypeError(str(err)) from None


def add_layer_arguments(parser: argparse.ArgumentParser) -> None:
    """--layers SPEC, repeatable or comma separated (names, globs, re:REGEX, type:Conv2d, convs, all)."""
    parser.add_argument(
        "--layers",
        metavar="SPEC",
        action="append",
        help="layers to capture: names, globs (features.*), re:REGEX, type:Conv2d, 'convs' (every convolution's "
        "raw output) or 'all' (every leaf module); repeat or separate with commas (default: what follows each "
        "convolution's norm and activation, e.g. ReLU modules or ResNet block outputs; token models: their "
        "blocks); see `layerscope layers MODEL`",
    )


def add_dictionary_argument(parser: argparse.ArgumentParser) -> None:
    """--dictionary FILE, repeatable: a layer read through a trained dictionary (its latents as channels)."""
    parser.add_argument(
        "--dictionary", metavar="FILE", action="append",
        help="a trained dictionary (Dictionary.save: one .safetensors file): the layer it was trained on is read "
        "through it, its latents shown, scanned and judged like channels; repeat for several layers",
    )


def subject_from_args(args: argparse.Namespace, loaded: LoadedModel) -> Subject:
    """``loaded`` with --layers and the --dictionary transforms (each on the layer it was trained on)."""
    transforms = {}
    for path in getattr(args, "dictionary", None) or []:
        found = Dictionary.load(path)
        if found.layer is None:
            raise InputError(f"--dictionary {path} does not say which layer it was trained on; train it with layer=.")
        transforms[found.layer] = found
    return Subject.of(loaded, layers_from_args(args), transforms=transforms or None)


def parse_floats(text: Optional[str], flag: str) -> Optional[tuple[float, ...]]:
    """'0.5,0.5,0.5' -> (0.5, 0.5, 0.5); malformed text raises InputError naming ``flag``.

    >>> parse_floats("0.485, 0.456,0.406", "--mean")
    (0.485, 0.456, 0.406)
    """
    if text is None:
        return None
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"{flag} {text!r} is not a comma-separated list of numbers; write e.g. {flag} 0.5,0.5,0.5") from None
    if len(values) not in (1, 3) or any(v != v for v in values):
        raise InputError(f"{flag} {text!r} needs 1 or 3 numbers (one per channel); write e.g. {flag} 0.5,0.5,0.5")
    return values


def parse_size(text: Optional[str], flag: str = "--size") -> Union[int, tuple[int, int], None]:
    """'224' -> 224, '224x320' -> (224, 320); anything else raises InputError naming ``flag``.

    >>> parse_size("32x48")
    (32, 48)
    """
    if text is None:
        return None
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or min(parts) <= 0:
        raise InputError(f"{flag} {text!r} is not a positive size; write N (e.g. {flag} 224) or HxW ({flag} 224x320)")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def parse_max_pixels(value: Union[str, int, None], flag: str = "--max-pixels") -> Optional[int]:
    """A pixel limit: a positive count, or None for no limit ('0', 'none'); else InputError naming ``flag``.

    >>> parse_max_pixels("1000"), parse_max_pixels("0"), parse_max_pixels("none")
    (1000, None, None)
    """
    if value is None or (isinstance(value, str) and value.strip().lower() == "none"):
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = -1
    if count < 0 or (isinstance(value, float) and not value.is_integer()):
        raise InputError(
            f"{flag} {value!r} is not a pixel count; give a positive number (e.g. {flag} {DEFAULT_MAX_PIXELS}) "
            f"or 0 / none for no limit."
        )
    return count or None


def model_from_args(args: argparse.Namespace) -> LoadedModel:
    """Load MODEL (+ checkpoint) and apply the preprocessing overrides; prints nothing.

    The overrides given are recorded in ``LoadedModel.overrides`` (``size``, ``mean``, ``std``,
    ``grayscale``: the parsed values); ``LoadedModel.native_preprocessing`` keeps the model's own.
    """
    return _load(args, args.model, getattr(args, "checkpoint", None))


def models_from_args(args: argparse.Namespace) -> tuple[LoadedModel, LoadedModel]:
    """MODEL_A and MODEL_B (each with its own checkpoint), with the shared overrides, as for :func:`model_from_args`."""
    return _load(args, args.model_a, args.checkpoint_a), _load(args, args.model_b, args.checkpoint_b)


def _load(args: argparse.Namespace, spec: str, checkpoint: Optional[str]) -> LoadedModel:
    overrides = {
        "size": parse_size(getattr(args, "size", None)),
        "mean": parse_floats(getattr(args, "mean", None), "--mean"),
        "std": parse_floats(getattr(args, "std", None), "--std"),
        "grayscale": True if getattr(args, "grayscale", False) else None,
    }
    loaded = load_model(
        spec,
        checkpoint=checkpoint,
        trust_checkpoint=getattr(args, "trust_checkpoint", False),
        device=getattr(args, "device", None),
    )
    if overrides["grayscale"] and first_conv_channels(loaded.module) == 3:
        raise InputError(
            f"--grayscale gives 1-channel input, but the first convolution of {spec} takes 3 channels. "
            f"Drop --grayscale: grayscale images are repeated to RGB automatically."
        )
    try:
        return loaded.with_preprocessing(**overrides)
    except InputError as err:
        raise InputError(f"{err} (from --size / --mean / --std / --grayscale)") from None


def feed_from_args(args: argparse.Namespace, batch_size: int = 32) -> Feed:
    """IMAGES with --strict, --recursive and --max-pixels as a :class:`~layerscope.io.feed.Feed`.

    The files are read when the feed is iterated (by the library call the command makes); the
    model's preprocessing is bound there.
    """
    return Feed(
        list(args.images),
        batch_size=max(1, int(getattr(args, "batch_size", batch_size) or batch_size)),
        strict=getattr(args, "strict", False),
        recursive=getattr(args, "recursive", False),
        max_pixels=parse_max_pixels(getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)),
    )


def layers_from_args(args: argparse.Namespace) -> Optional[list[str]]:
    """--layers values flattened (commas split, except inside re: selectors); None when not given."""
    given = getattr(args, "layers", None)
    if not given:
        return None
    out: list[str] = []
    for value in given:
        parts = [value] if value.strip().startswith("re:") else value.split(",")
        out.extend(p.strip() for p in parts if p.strip())
    if not out:
        raise InputError("--layers was given without a layer; write e.g. --layers conv1,layer1.0.conv1")
    return out


def print_preprocessing(loaded: LoadedModel, stream: Optional[TextIO] = None) -> None:
    """Print the model, its weights, its preprocessing line (and the model's own when overridden) and notes."""
    stream = stream if stream is not None else sys.stdout
    print(f"model: {loaded.spec} ({type(loaded.module).__name__}), weights: {loaded.weights or 'random init'}", file=stream)
    print(f"preprocessing: {loaded.preprocessing.describe()}", file=stream)
    if loaded.overrides:
        print(f"  instead of the model's own: {loaded.native_preprocessing.describe()}", file=stream)
    for note in loaded.notes:
        print(f"  note: {note}", file=stream)


def print_image_notes(images: list, skipped: list[tuple[str, str]], stream: Optional[TextIO] = None) -> None:
    """One line per image note (EXIF rotation, first frame, 16-bit scaling...) and per skipped image."""
    stream = stream if stream is not None else sys.stderr
    for image in images:
        for note in image.notes:
            print(f"  {image.path}: {note}", file=stream)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=stream)


_SKIP_KINDS = ("unreadable", "over --max-pixels")


def _skip_kind(reason: str) -> str:
    return _SKIP_KINDS[1] if "decompression bomb" in reason else _SKIP_KINDS[0]


def print_skipped_summary(total: int, skipped: list[tuple[str, str]], stream: Optional[TextIO] = None) -> None:
    """One line (stderr by default) after the per-file lines: how many of ``total`` images were skipped, and why.

    >>> print_skipped_summary(11, [("a.png", "not a readable image"), ("b.png", "corrupt PNG")], sys.stdout)
    2 of 11 images skipped (unreadable); --strict makes this an error
    """
    if not skipped:
        return
    stream = stream if stream is not None else sys.stderr
    kinds = Counter(_skip_kind(reason) for _, reason in skipped)
    why = ", ".join(f"{kinds[kind]} {kind}" if len(kinds) > 1 else kind for kind in _SKIP_KINDS if kinds[kind])
    print(f"{len(skipped)} of {total} images skipped ({why}); --strict makes this an error", file=stream)


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """DATA (the whole dataset a scan or a dump reads) and its loading flags."""
    parser.add_argument("data", metavar="DATA", nargs="+",
                        help="an image folder (recursive; ImageFolder class folders recognised), a .txt list of image "
                        "paths, a video file, or image files and globs")
    add_loading_arguments(parser, recursive=False)


def add_dataset_run_flags(group: Any) -> None:
    """The run and output flags of a verb over a whole dataset (scan, dump), and --no-progress."""
    RunOptions.add_flags(group, skip=("device", "progress", "strict", "recursive", "max_pixels"))
    OutputOptions.add_flags(group)
    group.add_argument("--no-progress", action="store_true", help="no progress bar (it is off anyway when stderr "
                       "is not a terminal)")
