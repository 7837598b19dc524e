"""diagnose against a capture of the same layers, in one process with the model loaded, interleaved.

    python benchmarks/bench_diagnose.py [--quick] [--rounds 7] [--models ...] [--batches 1,32] [--json OUT]

For each model (EfficientNet-Lite0 pretrained, offline; ResNet-50 at random init) and batch size, the
contenders run on the same photos (crops of the sample photos written as JPEG files, so both read and
preprocess them), once a round in a shuffled order:

- ``capture``: ``ls.capture(model, files, layers)`` of the layers ``diagnose`` judges by default;
- ``diagnose``: ``ls.diagnose(model, files, channel_order=False)``, every default layer judged, the input
  checks included (the BatchNorm fingerprint: an early-stopped forward for the inputs as given and one
  with red and blue swapped);
- ``diagnose (tensors)``: the same photos as a preprocessed tensor, where the fingerprint also tries the
  range and mean/std mistakes (14 early-stopped forwards on up to 16 inputs).

The figure is the median over rounds of the ratio diagnose / capture within a round, with a 95% bootstrap
interval (target <= 1.5). The first call of each contender (weights' spectra, a first walk of the model)
is a warm-up outside the rounds: the same process, the model loaded, as in a notebook.

``--cpu`` adds the same ratios in CPU time of the process (``time.process_time``), less sensitive than wall
time to other processes on a shared machine, and prints the load average; with ``--threads 1`` it is not
inflated by the spinning of idle worker threads either.
"""

from __future__ import annotations

import argparse
import sys
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import layerscope as ls  # noqa: E402
from common import interleave, ratio_row, write_rows  # noqa: E402
from layerscope.io.feed import Feed  # noqa: E402
from layerscope.run import Subject  # noqa: E402
from layerscope.zoo import PHOTOS, write_sample_images  # noqa: E402

MODELS = ("builtin:efficientnet_lite0", "torchvision:resnet50")


def photo_files(folder: Path, count: int) -> list[str]:
    """``count`` different crops of the sample photos, as JPEG files."""
    photos = [Image.open(p).convert("RGB") for p in write_sample_images(folder / "photos", count=0, photos=PHOTOS)]
    out = []
    for i in range(count):
        image = photos[i % len(photos)]
        w, h = image.size
        side = int(min(w, h) * (0.6 + 0.4 * ((i * 7) % 10) / 10))
        left, top = (i * 37) % (w - side + 1), (i * 53) % (h - side + 1)
        path = folder / f"crop_{i:03d}.jpg"
        image.crop((left, top, left + side, top + side)).save(path, quality=90)
        out.append(str(path))
    return out


def _cpu_timed(jobs: dict, cpu: dict[str, list[float]]) -> dict:
    """The jobs, each recording the CPU time of its calls in ``cpu[name]``."""
    def timed(name, job):
        def call():
            start = time.process_time()
            job()
            cpu[name].append(time.process_time() - start)
        return call
    return {name: timed(name, job) for name, job in jobs.items()}


def bench(spec: str, batch: int, rounds: int, folder: Path, cpu: bool = False) -> list[dict]:
    subject = Subject.of(spec)
    files = photo_files(folder, batch)
    x = Feed(files, subject.loaded.preprocessing).one()  # the same photos, preprocessed by the model's own rule
    layers = subject.layers
    jobs = {
        "capture": lambda: ls.capture(subject.loaded, files, layers),
        "diagnose": lambda: ls.diagnose(subject, files, channel_order=False, batch_size=batch),
        "diagnose (tensors)": lambda: ls.diagnose(subject, x, channel_order=False, batch_size=batch),
    }
    for job in jobs.values():  # warm-up: first walks, the weights' spectra
        job()
    cpu_times: dict[str, list[float]] = {name: [] for name in jobs}
    times = interleave(_cpu_timed(jobs, cpu_times) if cpu else jobs, rounds)
    name = spec.split(":")[-1]
    detail = f"{len(layers)} layers, batch {batch}"
    extra = []
    if cpu:
        load = "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
        what = {"diagnose": f"{batch} photo file{'s' if batch > 1 else ''}", "diagnose (tensors)": f"batch {batch} as a tensor"}
        extra = [ratio_row(f"diagnose / capture CPU time, {name}, {what[key]}",
                           cpu_times[key], cpu_times["capture"], target="<= 1.5", meets=lambda v: v <= 1.5,
                           detail=f"{detail}: {_ms(cpu_times[key])} vs {_ms(cpu_times['capture'])} CPU, {load}")
                 for key in ("diagnose", "diagnose (tensors)")]
    return extra + [
        ratio_row(f"diagnose / capture, {name}, {batch} photo file{'s' if batch > 1 else ''}", times["diagnose"],
                  times["capture"], target="<= 1.5", meets=lambda v: v <= 1.5,
                  detail=f"{detail}: {_ms(times['diagnose'])} vs {_ms(times['capture'])}"),
        ratio_row(f"diagnose / capture, {name}, batch {batch} as a tensor", times["diagnose (tensors)"],
                  times["capture"], target="<= 1.5", meets=lambda v: v <= 1.5,
                  detail=f"{detail}: {_ms(times['diagnose (tensors)'])} vs {_ms(times['capture'])}"),
    ]


def _ms(values: list[float]) -> str:
    values = sorted(values)
    return f"{values[len(values) // 2] * 1e3:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batches", default="1,32")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--json", help="write the rows here (benchmarks/common.py format)")
    parser.add_argument("--cpu", action="store_true", help="also the CPU-time ratios, and the load average")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 3 if args.quick else args.rounds
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-diagnose-") as tmp:
        for spec in args.models.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                found = bench(spec, batch, rounds, Path(tmp) / f"{spec.replace(':', '_')}_{batch}", args.cpu)
                rows += found
                for row in found:
                    print(f"{row['measure']}: {row['value']:.2f}x ({row['low']:.2f}-{row['high']:.2f}) "
                          f"[{row['detail']}]", flush=True)
    write_rows(args.json, "diagnose", rows)


if __name__ == "__main__":
    main()
