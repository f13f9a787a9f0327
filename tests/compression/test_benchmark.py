import time

import pytest
import torch
from torch import nn

from compressor.compression import benchmark
from compressor.compression.benchmark import (LatencyResult, compare, compare_loaded, dense_counterpart,
                                              measure_latency, measurement_warnings, shared_input_shape,
                                              speedup_summary)
from compressor.compression.core.errors import UserError
from compressor.compression.model_source import load_model
from compressor.compression.models import model_info


class Recorder(nn.Module):
    """Logs its name on every forward and remembers the inputs it saw."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log, self.inputs = name, log, []
        self.linear = nn.Linear(4, 2)

    def forward(self, x):
        self.log.append(self.name)
        self.inputs.append(x.clone())
        return self.linear(x.flatten(1))


class Sleeper(nn.Module):
    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def forward(self, x):
        time.sleep(self.seconds)
        return x


def test_rounds_run_every_model_in_turn_in_alternating_order(monkeypatch):
    monkeypatch.setattr(benchmark, "SETTLE_MS", 0.0)  # one untimed pass per turn
    monkeypatch.setattr(benchmark, "BLOCK", 2)
    log = []
    models = {"a": Recorder("a", log), "b": Recorder("b", log)}
    results = measure_latency(models, (4,), batch_size=2, warmup=1, repeats=3)
    # warmup round: one pass each; then turns of (untimed + 2 timed) and (untimed + the last timed one)
    assert "".join(log) == "ab" + "bbb" + "aaa" + "aa" + "bb"
    assert all(result.repeats == 3 and result.batch_size == 2 for result in results.values())


def test_a_models_timed_passes_come_after_untimed_ones_of_at_least_settle_ms(monkeypatch):
    events = []
    timed = benchmark._time_forward
    monkeypatch.setattr(benchmark, "_time_forward", lambda *args: events.append(("timed", time.perf_counter()))
                        or timed(*args))
    model = Sleeper(0.001)
    # when each pass starts: a pass slowed by a busy machine does not shorten the gap measured
    model.register_forward_pre_hook(lambda *_: events.append(("run", time.perf_counter())))
    measure_latency({"m": model}, (1,), batch_size=1, warmup=0, repeats=2 * benchmark.BLOCK)
    untimed = [i for i, (kind, _) in enumerate(events) if kind == "run" and (i == 0 or events[i - 1][0] != "timed")]
    turns = [i for i in untimed if i - 1 not in untimed]
    first_timed = [next(at for kind, at in events[start:] if kind == "timed") for start in turns]
    assert len(turns) == 2
    settled = [timed_at - events[start][1] for start, timed_at in zip(turns, first_timed)]
    assert all(seconds >= benchmark.SETTLE_MS / 1000 - 0.001 for seconds in settled)


def test_same_input_for_every_model_eval_mode_inside_and_mode_restored():
    log = []
    a, b = Recorder("a", log), Recorder("b", log)
    a.train()
    b.eval()
    seen = []
    a.register_forward_hook(lambda module, *_: seen.append((module.training, torch.is_inference_mode_enabled())))
    measure_latency({"a": a, "b": b}, (4,), batch_size=2, warmup=0, repeats=2)
    assert all(torch.equal(x, a.inputs[0]) for x in a.inputs + b.inputs)
    assert a.inputs[0].shape == (2, 4)
    assert set(seen) == {(False, True)}
    assert a.training and not b.training


def test_speedup_of_a_fast_model_over_a_slow_one():
    result = compare(Sleeper(0.0), Sleeper(0.005), (1, 2, 2), batch_size=2, warmup=1, repeats=3)
    assert result["baseline"]["median_ms"] >= 5.0
    assert result["candidate"]["median_ms"] < 2.0
    assert result["speedup"] == pytest.approx(result["baseline"]["median_ms"] / result["candidate"]["median_ms"])
    assert result["speedup"] > 2.5
    assert result["batch_size"] == 2 and result["input_shape"] == [1, 2, 2]


def test_statistics_are_ordered_and_throughput_follows_the_median():
    result = measure_latency({"slow": Sleeper(0.005)}, (1,), batch_size=4, warmup=0, repeats=5)["slow"]
    assert result.min_ms <= result.p10_ms <= result.median_ms <= result.p90_ms <= result.max_ms
    assert result.throughput == pytest.approx(4 / (result.median_ms / 1000))


def test_threads_are_set_while_measuring_and_restored():
    before = torch.get_num_threads()
    seen = []
    module = Sleeper(0.0)
    module.register_forward_hook(lambda *args: seen.append(torch.get_num_threads()))
    measure_latency({"m": module}, (1,), batch_size=1, warmup=0, repeats=1, threads=1)
    assert set(seen) == {1} and torch.get_num_threads() == before


@pytest.mark.parametrize("options, message", [
    ({"batch_size": 0}, "batch size"), ({"repeats": 0}, "repeats"), ({"warmup": -1}, "warmup"),
    ({"threads": 0}, "threads"),
])
def test_bad_options_are_user_errors(options, message):
    with pytest.raises(UserError, match=message):
        measure_latency({"m": Sleeper(0.0)}, (1,), **options)


def test_models_with_different_input_shapes_cannot_be_compared():
    with pytest.raises(UserError, match="input shapes differ"):
        shared_input_shape(model_info("digits_cnn"), model_info("resnet20_cifar"))
    with pytest.raises(UserError, match="input shapes differ"):
        compare_loaded(load_model(arch="digits_cnn"), load_model(arch="resnet20_cifar"), "a", "b")


def test_dense_counterpart_is_a_fresh_model_of_the_same_arch():
    loaded = load_model(arch="digits_cnn")
    with torch.no_grad():
        loaded.model.conv2.weight.zero_()
    dense = dense_counterpart(loaded)
    assert dense.info == loaded.info and dense.model is not loaded.model
    assert torch.count_nonzero(dense.model.conv2.weight) > 0
    result = compare_loaded(loaded, dense, "ckpt", "dense", batch_size=2, warmup=0, repeats=3)
    assert result["candidate"]["name"] == "ckpt" and result["baseline"]["arch"] == "digits_cnn"
    assert result["input_shape"] == [1, 8, 8] and result["speedup"] > 0


def test_a_speedup_carries_its_interval_over_the_paired_rounds():
    fast = LatencyResult.from_samples([1.0, 1.1, 0.9, 1.0, 1.05], batch_size=8)
    slow = LatencyResult.from_samples([2.0, 2.2, 1.8, 2.0, 2.1], batch_size=8)
    summary = speedup_summary(fast, slow)
    assert summary["speedup"] == pytest.approx(2.0)
    assert summary["speedup_low"] == pytest.approx(2.0) and summary["speedup_high"] == pytest.approx(2.0)
    assert summary["speedup_measurable"] is True


def test_a_speedup_whose_interval_holds_one_is_not_measurable():
    first = LatencyResult.from_samples([1.0, 1.2, 0.9, 1.1, 1.0, 0.95], batch_size=8)
    second = LatencyResult.from_samples([1.1, 1.0, 1.0, 1.2, 0.9, 1.0], batch_size=8)
    summary = speedup_summary(first, second)
    assert summary["speedup_low"] < 1.0 < summary["speedup_high"] and summary["speedup_measurable"] is False


def test_a_wide_spread_and_a_busy_machine_are_reported(monkeypatch):
    steady = LatencyResult.from_samples([1.0] * 10, batch_size=8)
    noisy = LatencyResult.from_samples([1.0, 2.0] * 5, batch_size=8)
    monkeypatch.setattr(benchmark.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert measurement_warnings({"steady": steady}) == []
    [wide] = measurement_warnings({"steady": steady, "noisy": noisy})
    assert wide.startswith("noisy: latency varied by 67% of its median")
    monkeypatch.setattr(benchmark.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    monkeypatch.setattr(benchmark, "available_cores", lambda: 2)
    assert measurement_warnings({"steady": steady}) == [
        "the machine was busy: 1-minute load average 9.0 above the 2 cores this process may use"]
