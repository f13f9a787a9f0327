"""The greedy rounds, with a judge whose scores the test sets."""
import pytest
import torch

from compressor.compression.models import build_model
from compressor.compression.workflows.auto_cost import CostMeter
from compressor.compression.workflows.auto_greedy import Hooks, Judge, SearchInterrupted, greedy_search
from compressor.compression.workflows.auto_space import search_space

EXAMPLE = torch.zeros(1, 1, 8, 8)


def _setup():
    torch.manual_seed(0)
    model = build_model("digits_cnn", num_classes=10).eval()
    return model, list(search_space(model, EXAMPLE).groups)


def test_rounds_reach_the_macs_target_preferring_the_layer_that_costs_no_accuracy():
    model, groups = _setup()
    meter = CostMeter("macs", model, (1, 8, 8), torch.device("cpu"))
    score = lambda m: 90.0 - (32 - m.conv1.out_channels) - (128 - m.conv3.out_channels)  # conv2 costs nothing
    result = greedy_search(model, groups, EXAMPLE, Judge(lambda m: None, score, meter.ratio), 0.7, 0.25)
    assert result.target_reached and result.last.ratio <= 0.7
    assert [r.layer for r in result.rounds[1:]][:2] == ["conv2", "conv2"]
    assert all(r.candidates == 4 for r in result.rounds[1:3])  # conv1, conv2, conv3, fc1
    assert model.conv2.out_channels == 64  # the model given is left as it was
    assert result.chosen(tolerance=0.0) is result.last


def test_an_unreachable_target_keeps_the_most_compressed_round_within_tolerance():
    model, groups = _setup()
    meter = CostMeter("params", model, (1, 8, 8), torch.device("cpu"))
    score = lambda m: 90.0 - 0.1 * (128 - m.conv3.out_channels)  # conv3 alone: at most 0.2 of params go
    result = greedy_search(model, groups[2:3], EXAMPLE, Judge(lambda m: None, score, meter.ratio), 0.05, 0.5)
    assert not result.target_reached and result.stopped_because == "no filter group can shrink any further"
    assert [r.channels["conv3"] for r in result.rounds] == [128, 64, 1]
    assert result.chosen(tolerance=7.0).number == 1 and result.chosen(tolerance=100.0).number == 2


def _noisy_judge(model):
    """Settling adds random noise to the weights, and the score reads them: a round depends on the random
    state its candidates are settled with, and on which filters the rounds before removed."""
    meter = CostMeter("macs", model, (1, 8, 8), torch.device("cpu"))

    def settle(m):
        with torch.no_grad():
            for layer in (m.conv1, m.conv2, m.conv3):
                layer.weight.add_(0.05 * torch.randn_like(layer.weight))

    def score(m):
        return 100.0 - 10.0 * sum(float(layer.weight.detach().abs().mean()) for layer in (m.conv1, m.conv2, m.conv3))

    return Judge(settle, score, meter.ratio)


def test_a_search_stopped_after_round_1_and_continued_from_its_saved_rounds_makes_the_same_rounds():
    model, groups = _setup()
    judge, groups = _noisy_judge(model), groups[1:3]  # conv2 and conv3: enough, and quicker
    straight = greedy_search(model, groups, EXAMPLE, judge, 0.5, 0.25)
    assert len(straight.rounds) > 3
    saved = []
    hooks = Hooks(lambda rounds, left_out: saved.append((rounds, left_out)), lambda: len(saved[-1][0]) > 1)
    with pytest.raises(SearchInterrupted) as stopped:
        greedy_search(model, groups, EXAMPLE, judge, 0.5, 0.25, hooks=hooks)
    assert stopped.value.completed == 1 and len(saved) == 2
    torch.manual_seed(12345)  # the global random state plays no part
    rounds, left_out = saved[-1]
    resumed = greedy_search(model, groups, EXAMPLE, judge, 0.5, 0.25, start=rounds, left_out=left_out)
    drop_seconds = lambda result: [(r.number, r.layer, r.ratio, r.top1, r.channels) for r in result.rounds]
    assert drop_seconds(resumed) == drop_seconds(straight) and resumed.stopped_because == straight.stopped_because


def _search_in_rank(rank, out, port):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    model, groups = _setup()
    judge = _noisy_judge(model)
    judged = []
    counting = Judge(judge.settle, lambda m: judged.append(1) or judge.score(m), judge.ratio)
    result = greedy_search(model, groups, EXAMPLE, counting, 0.5, 0.25)
    torch.save({"rounds": [(r.layer, r.channels, r.top1, r.candidates) for r in result.rounds],
                "judged": len(judged)}, out / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_two_processes_share_each_rounds_candidates_and_make_the_rounds_one_process_makes(tmp_path):
    """The noise settling adds stays in the kept model: a process that did not judge it must receive it."""
    import socket

    import torch.multiprocessing as mp

    model, groups = _setup()
    single = greedy_search(model, groups, EXAMPLE, _noisy_judge(model), 0.5, 0.25)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_search_in_rank, args=(tmp_path, port), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(2)]
    assert ranks[0]["rounds"] == ranks[1]["rounds"]
    assert [r[:2] + r[3:] for r in ranks[0]["rounds"]] == [(r.layer, r.channels, r.candidates) for r in single.rounds]
    assert [r[2] for r in ranks[0]["rounds"]] == pytest.approx([r.top1 for r in single.rounds])
    candidates = sum(r.candidates for r in single.rounds)
    assert ranks[0]["judged"] + ranks[1]["judged"] == candidates + 2  # each also scored the starting model
    assert abs(ranks[0]["judged"] - ranks[1]["judged"]) <= len(single.rounds)


def test_a_measured_cost_ranks_by_the_clock_free_one_and_times_only_the_kept_step():
    """Ranked by MACs, a lucky timing in round 1 (0.5) hides no later gain: the rounds go on until the
    kept step is timed within the target; ranked by the timings themselves, the search stops at once."""
    model, groups = _setup()
    macs = CostMeter("macs", model, (1, 8, 8), torch.device("cpu"))
    timings = [0.5, 0.9, 0.8, 0.7, 0.6, 0.4]
    calls = iter(timings)
    judge = Judge(lambda m: None, lambda m: 90.0, lambda m: next(calls), macs.ratio)
    result = greedy_search(model, groups[1:3], EXAMPLE, judge, 0.45, 0.25)
    assert result.target_reached and [r.ratio for r in result.rounds[1:]] == timings  # one timing per round
    assert all(r.candidates == 2 for r in result.rounds[1:3])
    unranked = greedy_search(model, groups[1:3], EXAMPLE, Judge(lambda m: None, lambda m: 90.0,
                                                                 lambda m: 0.9), 0.1, 0.25)
    assert unranked.stopped_because == "no step lowers the cost any more" and len(unranked.rounds) == 2
