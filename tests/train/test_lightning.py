"""MonitorCallback with a real CPU Lightning Trainer on the digits: the event files and metrics.csv read back."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import layerscope
from layerscope.errors import InputError
from layerscope.train import Monitor

pytest.importorskip("lightning", reason="the callback needs layerscope[lightning]")

from lightning.pytorch.callbacks import Callback  # noqa: E402
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from layerscope.train import MonitorCallback  # noqa: E402
from layerscope.zoo.digits import untrained  # noqa: E402

from .lightning_digits import LAYERS, Digits, data, trainer  # noqa: E402

NUMBERS = ("dead", "scale", "effective_rank", "noise")


class Watch(Callback):
    """After each batch (after MonitorCallback's hook): the model's mode and hooks, and the step."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool, int]] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in pl_module.modules())
        self.seen.append((trainer.global_step, all(m.training for m in pl_module.modules()), hooks))


def _events(log_dir: Path) -> EventAccumulator:
    """Every event of every file in the folder, none dropped: no sampling, no purge of a step written twice."""
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0, "histograms": 0, "scalars": 0, "tensors": 0},
                              purge_orphaned_data=False)
    return events.Reload()


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _fit(root: Path, callback: MonitorCallback, *, max_steps: int, ckpt_path=None, watch=None, **kwargs):
    torch.manual_seed(0)
    loader, _ = data()
    model = Digits()
    fit = trainer(root, max_steps=max_steps, callbacks=[callback] + ([watch] if watch else []), **kwargs)
    fit.fit(model, loader, ckpt_path=ckpt_path)
    return fit, model


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    _, probe = data()
    callback, watch = MonitorCallback(probe, LAYERS, every=2), Watch()
    loggers = [TensorBoardLogger(str(root), name="tb", version=0), CSVLogger(str(root), name="csv", version=0)]
    fit, model = _fit(root, callback, max_steps=4, watch=watch, logger=loggers)
    return {"callback": callback, "watch": watch, "model": model, "probe": probe, "trainer": fit,
            "events": _events(root / "tb" / "version_0"), "csv": _csv_rows(root / "csv" / "version_0" / "metrics.csv")}


@pytest.mark.slow
def test_tensorboard_has_images_histograms_and_scalars_per_layer_on_the_steps(run):
    events = run["events"]
    tags = events.Tags()
    for layer in LAYERS:
        assert [e.step for e in events.Images(f"layerscope/{layer}/maps")] == [0, 2, 4]
        assert [e.step for e in events.Histograms(f"layerscope/{layer}/activations")] == [0, 2, 4]
        for number in NUMBERS:
            assert [e.step for e in events.Scalars(f"layerscope/{layer}/{number}")] == [0, 2, 4]
    assert [e.step for e in events.Scalars("layerscope/tendency_score")] == [0, 2, 4]
    assert "loss" in tags["scalars"]  # the LightningModule's own logging goes on beside


@pytest.mark.slow
@pytest.mark.parametrize("step", [0, 4])
def test_the_logged_numbers_are_a_plain_monitors_on_the_same_weights(run, step):
    """Step 0: the seeded init (SimpleCNN ``untrained()``); step 4: the weights the 4-step fit ends with."""
    events, probe = run["events"], run["probe"]
    net = untrained() if step == 0 else run["model"].net
    expected = Monitor(net, ["conv1", "conv2"], inputs=probe).log(step)
    k = [0, 2, 4].index(step)
    for layer in ("conv1", "conv2"):
        for number in NUMBERS:
            value = events.Scalars(f"layerscope/net.{layer}/{number}")[k].value
            assert value == pytest.approx(expected.layers[layer].numbers[number], rel=1e-5, abs=1e-7)
        histogram = events.Histograms(f"layerscope/net.{layer}/activations")[k].histogram_value
        assert list(histogram.bucket) == expected.layers[layer].histogram.counts[0].tolist()
        image = events.Images(f"layerscope/net.{layer}/maps")[k]
        height, width = expected.layers[layer].grids[0].indices.shape
        assert (image.height, image.width) == (height, 4 * width)  # the 4 probe grids side by side
    assert events.Histograms("layerscope/net.conv1/activations")[k].histogram_value.num == 4 * 16 * 24 * 24


@pytest.mark.slow
def test_csv_logger_gets_the_scalars_on_the_steps(run):
    rows = [r for r in run["csv"] if r.get("layerscope/net.conv2/scale")]
    assert [int(r["step"]) for r in rows] == [0, 2, 4]
    for row, entry in zip(rows, run["callback"].monitor.history):
        assert float(row["layerscope/net.conv2/scale"]) == pytest.approx(entry["layers"]["net.conv2"]["scale"], rel=1e-5)
        assert float(row["layerscope/net.conv1/dead"]) == pytest.approx(entry["layers"]["net.conv1"]["dead"], abs=1e-9)


@pytest.mark.slow
def test_the_model_has_its_mode_and_no_hook_after_each_log_and_after_fit(run):
    watch, model = run["watch"], run["model"]
    assert [step for step, _, _ in watch.seen] == [1, 2, 3, 4]
    assert all(training and hooks == 0 for _, training, hooks in watch.seen)
    assert not any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks for m in model.modules())
    assert model.forwards == {"training": 4, "probe": 6}  # the probe: a capture and a diagnosis forward per log


@pytest.mark.slow
def test_gradient_accumulation_logs_each_optimizer_step_once(tmp_path):
    _, probe = data()
    callback = MonitorCallback(probe, ["net.conv1"], every=2)
    _fit(tmp_path, callback, max_steps=4, accumulate_grad_batches=2,
         logger=TensorBoardLogger(str(tmp_path), name="tb", version=0))
    events = _events(tmp_path / "tb" / "version_0")
    assert [e.step for e in events.Images("layerscope/net.conv1/maps")] == [0, 2, 4]
    assert [e.step for e in events.Scalars("layerscope/net.conv1/scale")] == [0, 2, 4]
    assert [e["step"] for e in callback.monitor.history] == [0, 2, 4]


@pytest.mark.slow
def test_a_resumed_run_goes_on_with_its_schedule(tmp_path):
    """Fit 4 steps (logs 0, 2, 4; the checkpoint at step 4 holds the callback's state), resume to 8 from it
    in the same TensorBoard folder: 6 and 8 follow, step 4 is not logged again."""
    _, probe = data()
    logger = dict(save_dir=str(tmp_path), name="tb", version=0)
    first = MonitorCallback(probe, ["net.conv1"], every=2)
    fit, _ = _fit(tmp_path, first, max_steps=4, logger=TensorBoardLogger(**logger))
    checkpoint = fit.checkpoint_callback.best_model_path
    assert checkpoint.endswith("step=4.ckpt")
    assert torch.load(checkpoint, weights_only=False)["callbacks"][first.state_key]["last_logged"] == 4

    second = MonitorCallback(probe, ["net.conv1"], every=2)
    _fit(tmp_path, second, max_steps=8, ckpt_path=checkpoint, logger=TensorBoardLogger(**logger))
    assert [e["step"] for e in second.monitor.history] == [6, 8]
    events = _events(tmp_path / "tb" / "version_0")
    assert [e.step for e in events.Scalars("layerscope/net.conv1/scale")] == [0, 2, 4, 6, 8]
    assert [e.step for e in events.Images("layerscope/net.conv1/maps")] == [0, 2, 4, 6, 8]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_runs_the_probe_on_both_and_writes_from_rank_0(tmp_path):
    """A real ``strategy="ddp"`` run (gloo) of tests/train/lightning_digits.py, whose forward all-reduces."""
    script = Path(__file__).with_name("lightning_digits.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(layerscope.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # both ranks: the launcher's session
        pytest.fail("the DDP run hung")
    assert process.returncode == 0, output[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["forwards"] == ranks[1]["forwards"] == {"training": 4, "probe": 6}  # 3 logs, on both ranks
    assert ranks[0]["history"] == [0, 2, 4] and ranks[1]["history"] == []  # only rank 0 logged
    assert ranks[0]["last_logged"] == ranks[1]["last_logged"] == 4 and ranks[0]["hooks"] == ranks[1]["hooks"] == 0
    lines = (tmp_path / "folder" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 2, 4]  # the FolderSink: written once, by rank 0
    events = _events(tmp_path / "tb" / "version_0")
    assert [e.step for e in events.Scalars("layerscope/net.conv2/scale")] == [0, 2, 4]


def test_options_are_the_monitors_checked_when_made():
    with pytest.raises(InputError, match="every must be an int >= 1"):
        MonitorCallback(torch.zeros(1, 1, 28, 28), every=0)
    with pytest.raises(InputError, match="Did you mean 'every'"):
        MonitorCallback(torch.zeros(1, 1, 28, 28), evry=10)
    assert MonitorCallback(torch.zeros(1, 1, 28, 28), prefix="a").state_key != MonitorCallback(
        torch.zeros(1, 1, 28, 28), prefix="b").state_key  # two callbacks keep two states in a checkpoint


def test_state_round_trip():
    callback = MonitorCallback(torch.zeros(1, 1, 28, 28), every=3)
    callback.load_state_dict({"last_logged": 9})
    assert callback.state_dict() == {"last_logged": 9}


@pytest.mark.slow
def test_import_layerscope_does_not_import_lightning_and_a_missing_lightning_is_named():
    code = ("import sys, layerscope, layerscope.train\n"
            "assert 'lightning' not in sys.modules, 'lightning imported'\n"
            "sys.modules['lightning'] = None  # as if it were not installed\n"
            "try:\n"
            "    layerscope.train.MonitorCallback\n"
            "except layerscope.MissingDependencyError as err:\n"
            "    print(err)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(layerscope.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pip install 'layerscope[lightning]'" in out.stdout
