"""torchrun: two CPU processes with gloo on 127.0.0.1."""
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp

from compressor.compression.distributed import Ranks, barrier, leave
from compressor.compression.core.errors import TrainingInterrupted
from compressor.compression.schedule import parse_schedule_text
from compressor.compression.training import Reporter, TrainOptions, apply_overrides, fit, prepare_run
from compressor.compression.training.stopping import StopRequest
from processes import wait_for

SCHEDULE = """version: 1
model: {arch: digits_cnn}
dataset: {name: digits, batch_size: 64}
training: {epochs: 2, lr: 0.05, seed: 0, skip_latency: true}
"""

# Statistics that differ between processes (activations of their own images, LSQ's first
# step sizes), a thinning step and distillation with a hint: every process must still end
# with the same model.
APOZ_PRUNER = """
pruners:
  apoz: {class: ActivationAPoZRankedFilterPruner, group_type: Filters, desired_sparsity: 0.5, weights: [conv2.weight]}
"""
COMPRESSION = SCHEDULE + """
distillation:
  teacher: {arch: digits_cnn}
  temperature: 2.0
  hints:
    - {student: conv3, teacher: conv3, loss: attention}
""" + APOZ_PRUNER + """
quantizers:
  lsq: {class: LSQQuantizer, bits_activations: 8, bits_weights: 8}
extensions:
  thin: {class: FilterRemover}
policies:
  - pruner: {instance_name: apoz}
    epochs: [0]
  - extension: {instance_name: thin}
    epochs: [0]
  - quantizer: {instance_name: lsq}
    starting_epoch: 0
    ending_epoch: 2
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def torchrun_command(*args, processes=2):
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--nnodes=1",
            "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "compressor.cli", *map(str, args)]


TORCHRUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def torchrun(*args, processes=2):
    return subprocess.run(torchrun_command(*args, processes=processes), env=TORCHRUN_ENV, capture_output=True,
                          text=True, timeout=300)


def metric_lines(folder):
    return [line for line in (folder / "metrics.jsonl").read_text().splitlines() if line]


def test_two_processes_train_into_one_run_folder_and_resume(tmp_path):
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(SCHEDULE)
    folder = tmp_path / "run"
    result = torchrun("train", "--schedule", schedule, "--out", folder, "--json")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('"top1"') == 1  # one report, from the first process
    assert "in 2 processes (DDP)" in result.stderr
    assert len(metric_lines(folder)) == 2
    assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == 1

    result = torchrun("train", "--resume", folder / "checkpoint.pt", "--epochs", 3)
    assert result.returncode == 0, result.stderr
    assert [line.count('"epoch": ') for line in metric_lines(folder)] == [1, 1, 1]


def _train_rank(rank, out, port, text=COMPRESSION):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    schedule = apply_overrides(parse_schedule_text(text), TrainOptions(out=str(out / "run")))
    run = prepare_run(schedule, write_tensorboard=False, ranks=Ranks(rank, 2, rank))
    fit(run)
    if text is not COMPRESSION:
        leave()
        return
    assert "distill_loss" in run.history[-1] and "hint_0_loss" in run.history[-1]
    quantizer = run.scheduler.state_dict()["2:lsq"]["tensors"]
    torch.save({"model": run.model.state_dict(), "masks": run.scheduler.masks.state_dict()["masks"],
                "quantizer": quantizer}, out / f"rank{rank}.pt")
    leave()


def test_every_process_ends_with_the_same_weights_masks_and_quantizer_state(tmp_path):
    mp.spawn(_train_rank, args=(tmp_path, free_port()), nprocs=2, join=True)
    first, second = (torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2))
    assert first["model"]["conv2.weight"].shape[0] < 64  # thinned
    assert any("step" in name for name in first["quantizer"])  # LSQ's learned step sizes
    for part in ("model", "masks", "quantizer"):
        assert first[part].keys() == second[part].keys()
        for name in first[part]:
            assert torch.equal(first[part][name], second[part][name]), name


def test_a_quantizer_that_starts_later_trains_under_ddp(tmp_path):
    """Its parameters take no gradient in the epochs before: DDP must not wait for them."""
    late = SCHEDULE + """
quantizers:
  pact: {class: PACTQuantizer, bits_activations: 4, bits_weights: 4}
policies:
  - quantizer: {instance_name: pact}
    starting_epoch: 1
    ending_epoch: 2
"""
    mp.spawn(_train_rank, args=(tmp_path, free_port(), late), nprocs=2, join=True)
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["epoch"] == 1


APOZ_IN_EPOCH_0 = SCHEDULE + APOZ_PRUNER + """
policies:
  - pruner: {instance_name: apoz}
    epochs: [0]
"""


class _StopAtStep(Reporter):
    def __init__(self, stop, step):
        self.stop, self.step = stop, step

    def on_step_end(self, epoch, step, steps_per_epoch):
        if (epoch, step) == (0, self.step):
            self.stop.request(signal.SIGTERM)


def _stop_and_resume_rank(rank, out, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    schedule = apply_overrides(parse_schedule_text(APOZ_IN_EPOCH_0), TrainOptions(out=str(out / "run")))
    stop = StopRequest()
    try:
        fit(prepare_run(schedule, write_tensorboard=False, ranks=Ranks(rank, 2, rank)), _StopAtStep(stop, 1), stop)
    except TrainingInterrupted:
        pass
    barrier()  # the first process has written the checkpoint
    checkpoint = out / "run" / "checkpoint.pt"
    payload = torch.load(checkpoint, weights_only=True)
    carried, progress = payload["policies_state"]["0:apoz"]["counts"], payload["epoch_progress"]
    resumed = prepare_run(schedule, resume=str(checkpoint), write_tensorboard=False, ranks=Ranks(rank, 2, rank))
    restarted = resumed.take_progress(0)  # the first process carries the group's loss so far, the other none
    resumed.resumed_progress, restarted_seen = restarted, restarted.seen
    fit(resumed)
    torch.save({"carried": carried, "mask": resumed.scheduler.masks.masks["conv2.weight"], "progress": progress,
                "restarted_seen": restarted_seen, "batch": schedule.dataset.batch_size}, out / f"rank{rank}.pt")
    leave()


def test_an_interrupted_epoch_of_activation_statistics_resumes_with_every_processs_share(tmp_path):
    mp.spawn(_stop_and_resume_rank, args=(tmp_path, free_port()), nprocs=2, join=True)
    first, second = (torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2))
    assert first["carried"] == {"conv2.weight": 6.0}  # 3 steps done in each of the 2 processes
    assert torch.equal(first["mask"], second["mask"]) and not first["mask"].all()
    progress = first["progress"]  # the loss so far of both processes' images, which only the first carries on
    assert progress["processes"] == 2 and progress["seen"] == 2 * progress["step"] * first["batch"]
    assert (first["restarted_seen"], second["restarted_seen"]) == (progress["seen"], 0)


def test_sigterm_to_torchrun_stops_every_process_at_the_same_step_with_one_checkpoint(tmp_path):
    schedule = tmp_path / "schedule.yaml"
    schedule.write_text(SCHEDULE.replace("epochs: 2", "epochs: 200"))
    folder = tmp_path / "run"
    every_process_says = {**TORCHRUN_ENV, "COMPRESSOR_DEBUG": "1"}  # else only the first one does
    process = subprocess.Popen(torchrun_command("train", "--schedule", schedule, "--out", folder),
                               env=every_process_says, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (folder / "checkpoint.pt").exists())
    process.send_signal(signal.SIGTERM)  # torchrun passes it on to both processes
    _, err = process.communicate(timeout=120)
    stops = [line for line in err.splitlines() if "SIGTERM received: stopped" in line]
    assert len(stops) == 2 and stops[0] == stops[1]  # both processes, the same place
    payload = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert payload["epoch"] < 199 and payload["epoch_progress"]["processes"] == 2


def test_sensitivity_pairs_split_between_two_processes_give_the_single_process_rows(tmp_path, dense_digits):
    args = ("sensitivity", "--checkpoint", dense_digits, "--sparsities", "0,0.5,0.9", "--eval-samples", 128, "--json")
    single = subprocess.run([sys.executable, "-m", "compressor.cli", *map(str, args), "--out", tmp_path / "one"],
                            env=TORCHRUN_ENV, capture_output=True, text=True, timeout=300)
    split = torchrun(*args, "--out", tmp_path / "two")
    assert single.returncode == 0 and split.returncode == 0, split.stderr[-2000:]
    assert json.loads(split.stdout.strip().splitlines()[-1])["processes"] == 2
    assert (tmp_path / "two" / "sensitivity.csv").read_text() == (tmp_path / "one" / "sensitivity.csv").read_text()


def test_sensitivity_of_random_weights_scores_one_model_in_every_process(tmp_path):
    """Without a checkpoint each process draws its own weights; the first one's are used by all."""
    result = torchrun("sensitivity", "--arch", "digits_cnn", "--sparsities", "0,0.9", "--eval-samples", 64,
                      "--out", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    dense = {line.split(",")[2] for line in (tmp_path / "sensitivity.csv").read_text().splitlines()
             if line.split(",")[1:2] == ["0"]}
    assert len(dense) == 1


def test_auto_rounds_split_between_two_processes_choose_what_one_process_chooses(tmp_path, dense_digits):
    args = ("auto", "--checkpoint", dense_digits, "--target", "macs=0.5", "--tolerance", 2, "--step", 0.25,
            "--finetune-epochs", 1, "--round-steps", 0, "--json")
    single = subprocess.run([sys.executable, "-m", "compressor.cli", *map(str, args), "--out", tmp_path / "one",
                             "--threads", "1"], env=TORCHRUN_ENV, capture_output=True, text=True, timeout=300)
    split = torchrun(*args, "--out", tmp_path / "two")
    assert single.returncode == 0 and split.returncode == 0, split.stderr[-2000:]
    rounds = [json.loads((tmp_path / name / "auto_state.json").read_text())["rounds"] for name in ("one", "two")]
    assert [(r["layer"], r["channels"], r["candidates"]) for r in rounds[1]] == \
        [(r["layer"], r["channels"], r["candidates"]) for r in rounds[0]]
    assert [r["val_top1"] for r in rounds[1]] == pytest.approx([r["val_top1"] for r in rounds[0]])
    report = json.loads(split.stdout.strip().splitlines()[-1])
    assert report["ratios"]["macs"] <= 0.5 and len(rounds[1]) > 2  # fine-tuned under DDP: its top-1 is its own
