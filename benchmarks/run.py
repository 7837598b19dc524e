"""Every benchmark suite in one command: one table of ratios with their 95% intervals, and one JSON file.

    python -m benchmarks [--full] [--only diagnose,scan] [--json benchmarks.json] [--markdown table.md]

Each suite runs in its own process (``benchmarks/bench_*.py --quick --json``; ``--full``: without
``--quick``, as the README's figures were taken), one after the other so that they do not slow each
other down; within a suite the contenders are interleaved round by round (``benchmarks/common.py``).
A suite that fails gives a row saying so, the others still run. GPU rows come from
``bench_cuda.py`` when a CUDA device is present, and say that none was otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import figure_row, write_rows  # noqa: E402


def _capture_rows(data: dict) -> list[dict]:
    rows = []
    for r in data["results"]:
        for key, label in (("capture/clone", "capture / hooks that clone every output"),
                           ("Recorder/keep", "reused Recorder / plain hooks that keep outputs")):
            if key in r["ratios"]:
                low, high = r["interval95"][key]
                rows.append({"measure": f"{label}, {r['model']} ({r['layers']} layers)", "value": r["ratios"][key],
                             "low": low, "high": high, "target": "<= 1.05", "met": r["ratios"][key] <= 1.05,
                             "unit": "x", "rounds": r["rounds"],
                             "detail": f"bare forward {r['median_s']['bare'] * 1e3:.1f} ms"})
    return rows


def _render_rows(data: dict) -> list[dict]:
    vgg, ratios = data["vgg16"], data["ratios"]
    return [
        figure_row("capture + atlas of every map / bare forward, VGG16 (13 convs, PNG files)", ratios["b_over_a"], "x",
                   target="<= 1.5", meets=lambda v: v <= 1.5,
                   detail=f"{vgg['atlas_s'] * 1e3:.0f} ms vs {vgg['bare_s'] * 1e3:.0f} ms, median of {data['repeat']}"),
        figure_row("tutorial matplotlib recipe / capture + atlas, same maps", ratios["c_over_b"], "x",
                   target=">= 300", meets=lambda v: v >= 300, detail=data["seed001"]["how"]),
    ]


# name -> (script, quick arguments, full arguments, adapter of its JSON into rows, or None: it writes rows)
SUITES: dict[str, tuple[str, list[str], list[str], Optional[Callable[[dict], list[dict]]]]] = {
    "capture": ("bench_capture.py", ["--models", "resnet18,efficientnet_b0", "--seconds", "20"],
                ["--seconds", "90"], _capture_rows),
    "render": ("bench_render.py", ["--quick"], [], _render_rows),
    "diagnose": ("bench_diagnose.py", ["--quick"], [], None),
    "scan": ("bench_scan.py", ["--quick"], [], None),
    "report": ("bench_report.py", ["--quick"], [], None),
    "explorer": ("bench_explorer.py", ["--quick"], [], None),
    "monitor": ("bench_monitor.py", ["--quick"], [], None),
    "cuda": ("bench_cuda.py", ["--quick"], [], None),
}


def run_suite(name: str, full: bool, work: Path, timeout: float) -> dict[str, Any]:
    script, quick, whole, adapt = SUITES[name]
    out = work / f"{name}.json"
    command = [sys.executable, str(HERE / script), *(whole if full else quick), "--json", str(out)]
    start = time.perf_counter()
    load = os.getloadavg()[0]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
        failed = done.returncode != 0 or not out.exists()
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] if failed else []
    except subprocess.TimeoutExpired:
        failed, why = True, [f"ran past {timeout:.0f} s"]
    seconds = time.perf_counter() - start
    if failed:
        rows = [{"measure": f"{name}: the suite failed", "value": float("nan"), "low": None, "high": None,
                 "target": "", "met": False, "unit": "", "rounds": None, "detail": " ".join(why)[:300]}]
    else:
        data = json.loads(out.read_text())
        rows = adapt(data) if adapt else data["rows"]
    return {"suite": name, "command": " ".join(["python", f"benchmarks/{script}", *(whole if full else quick)]),
            "seconds": seconds, "load_before": load, "rows": rows}


def _number(value: Any, unit: str) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.2f}{'x' if unit == 'x' else (' ' + unit if unit else '')}"


def table(suites: list[dict]) -> str:
    """The markdown table of every row (suite, measure, value, 95% interval, target, met)."""
    lines = ["| suite | measure | value | 95% interval | target | met | detail |", "|---|---|---|---|---|---|---|"]
    for suite in suites:
        for r in suite["rows"]:
            interval = f"{r['low']:.2f}-{r['high']:.2f}" if r.get("low") is not None else ""
            met = {True: "yes", False: "**no**", None: ""}[r.get("met")]
            lines.append(f"| {suite['suite']} | {r['measure']} | {_number(r['value'], r.get('unit', ''))} | {interval} "
                         f"| {r.get('target', '')} | {met} | {r.get('detail', '')} |")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--only", help=f"comma-separated suites (of {', '.join(SUITES)})")
    parser.add_argument("--full", action="store_true", help="the suites' full runs (tens of minutes)")
    parser.add_argument("--json", default="benchmarks.json", help="where to write every row (default benchmarks.json)")
    parser.add_argument("--markdown", help="also write the table to this file")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per suite (default 900)")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else list(SUITES)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}; the suites are {', '.join(SUITES)}")
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"load {os.getloadavg()[0]:.1f} at the start")
    print(f"benchmarks ({'full' if args.full else 'quick'} runs) on {machine}", flush=True)
    suites = []
    with tempfile.TemporaryDirectory(prefix="layerscope-benchmarks-") as tmp:
        for name in names:
            suites.append(run_suite(name, args.full, Path(tmp), args.timeout))
            print(f"  {name}: {len(suites[-1]['rows'])} rows in {suites[-1]['seconds']:.0f} s", flush=True)
    text = table(suites)
    print(text)
    write_rows(args.json, "all", [dict(r, suite=s["suite"]) for s in suites for r in s["rows"]], machine=machine,
               suites=[{k: v for k, v in s.items() if k != "rows"} for s in suites])
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
