"""AMC's search on an untrained digits CNN, with a judge whose scores the test sets: the action bound,
the agent's learning step, seeding and resuming."""
import pytest
import torch

from compressor.compression.core.errors import UserError
from compressor.compression.models import build_model
from compressor.compression.workflows.auto_amc_agent import Batch, DdpgAgent
from compressor.compression.workflows.auto_amc_env import STATE_SIZE, AmcEnvironment
from compressor.compression.workflows.auto_amc_result import amc_result
from compressor.compression.workflows.auto_amc_search import AmcHooks, AmcSettings, amc_search
from compressor.compression.workflows.auto_amc_state import load_amc_state, save_amc_state
from compressor.compression.workflows.auto_config import Target
from compressor.compression.workflows.auto_cost import CostMeter
from compressor.compression.workflows.auto_greedy import Judge, Round, SearchInterrupted
from compressor.compression.workflows.auto_space import search_space

EXAMPLE = torch.zeros(1, 1, 8, 8)


def _setup():
    torch.manual_seed(0)
    model = build_model("digits_cnn", num_classes=10).eval()
    return model, list(search_space(model, EXAMPLE).groups)


def _judge(model, kind="macs"):
    """Settling adds random noise to the weights and the score reads them (so an episode depends on the
    seed it is settled with); keeping conv2's and conv3's filters scores higher."""
    meter = CostMeter(kind, model, (1, 8, 8), torch.device("cpu"))

    def settle(m):
        with torch.no_grad():
            for layer in (m.conv1, m.conv2, m.conv3):
                layer.weight.add_(0.05 * torch.randn_like(layer.weight))

    def score(m):
        noise = sum(float(layer.weight.detach().abs().mean()) for layer in (m.conv1, m.conv2, m.conv3))
        return 50.0 + 20.0 * (m.conv2.out_channels / 64 + m.conv3.out_channels / 128) - noise

    return Judge(settle, score, meter.ratio)


def _episodes(result):
    return [(r.number, r.ratio, r.top1, r.channels) for r in result.rounds]


@pytest.mark.parametrize("kind, ratio", [("macs", 0.3), ("params", 0.25)])
def test_the_action_bound_keeps_every_episode_within_the_target(kind, ratio):
    """Actions drawn uniformly in [0.2, 1] would often miss these targets: the bound makes none miss,
    and the cost model the bound uses is the measured cost."""
    model, groups = _setup()
    env = AmcEnvironment(model, groups, EXAMPLE, Target(kind, ratio), 0.2)
    result = amc_search(env, _judge(model, kind), AmcSettings(8, 4, 0.2, seed=3))
    episodes = result.episodes
    assert len(episodes) == 8 and all(r.ratio <= ratio + 1e-9 for r in episodes)
    assert max(r.ratio for r in episodes) > 0.8 * ratio  # the bound trims to the target, not far below it
    for r in episodes:
        counts = [r.channels[group.leader] for group in env.groups]
        assert env.costs.cost(kind, counts) / env.costs.dense[kind] == pytest.approx(r.ratio, rel=1e-12)
    assert result.target_reached and result.chosen(0.0) is result.best()
    assert model.conv2.out_channels == 64  # the model given is left as it was


def test_without_a_cost_model_latency_actions_are_only_clipped_to_min_keep():
    model, groups = _setup()
    env = AmcEnvironment(model, groups, EXAMPLE, Target("latency", 0.01), 0.5)
    kept = [env.keep(t, 0.0, []) for t in range(env.layers)]
    assert kept == [16, 32, 64, 64]  # half of each: min_keep, never below, and no bound lowers it


def test_a_ddpg_update_lowers_the_critics_loss_on_a_fixed_batch():
    generator = torch.Generator().manual_seed(0)
    states = torch.rand(32, STATE_SIZE, generator=generator)
    actions = torch.rand(32, 1, generator=generator)
    batch = Batch(states, actions, 1.0 - (actions - 0.7).abs(), states, torch.ones(32, 1))
    agent = DdpgAgent(STATE_SIZE, 0.2, seed=0, layers=4)
    losses = [agent.update(batch)[0] for _ in range(150)]
    assert losses[-1] < 0.2 * losses[0]
    assert agent.baseline == pytest.approx(float(batch.rewards.mean()))
    actor, target = agent.actor.state_dict(), agent.actor_target.state_dict()
    assert not all(torch.equal(actor[name], target[name]) for name in actor)  # the target follows, slowly


def test_the_same_seed_runs_the_same_episodes_and_another_seed_others():
    model, groups = _setup()
    env, judge = AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2), _judge(model)
    first = amc_search(env, judge, AmcSettings(6, 3, 0.2, seed=11))
    torch.manual_seed(999)  # the global random state plays no part
    again = amc_search(env, judge, AmcSettings(6, 3, 0.2, seed=11))
    other = amc_search(env, judge, AmcSettings(6, 3, 0.2, seed=12))
    assert _episodes(first) == _episodes(again)
    assert _episodes(first)[1:] != _episodes(other)[1:]


def test_a_search_stopped_after_episode_4_and_resumed_from_its_saved_state_runs_the_same_episodes(tmp_path):
    """Stopped after the agent has begun learning (warm-up 3): its networks, optimizers, buffer and
    generator must all come back."""
    model, groups = _setup()
    env, judge, settings = AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2), _judge(model), \
        AmcSettings(7, 3, 0.2, seed=5)
    agents = {}
    straight = amc_search(env, judge, settings, hooks=AmcHooks(lambda r, s: agents.update(straight=s["agent"])))
    saved = []

    def after_episode(rounds, snapshot):
        save_amc_state(tmp_path, snapshot)
        saved.append(len(rounds))

    hooks = AmcHooks(after_episode, lambda: saved[-1] == 5)
    with pytest.raises(SearchInterrupted) as stopped:
        amc_search(env, judge, settings, hooks=hooks)
    assert stopped.value.completed == 4
    torch.manual_seed(12345)
    resumed = amc_search(env, judge, settings, hooks=AmcHooks(lambda r, s: agents.update(resumed=s["agent"])),
                         saved=load_amc_state(tmp_path))
    assert _episodes(resumed) == _episodes(straight) and resumed.stopped_because == straight.stopped_because
    _assert_same(agents["resumed"], agents["straight"])  # its learning too, which the episodes may not show yet


def _assert_same(mine, theirs):
    if isinstance(theirs, dict):
        assert mine.keys() == theirs.keys()
        for key in theirs:
            _assert_same(mine[key], theirs[key])
    elif isinstance(theirs, torch.Tensor):
        assert torch.equal(mine, theirs)
    else:
        assert mine == theirs


def test_a_saved_state_of_another_search_is_refused(tmp_path):
    model, groups = _setup()
    env, judge = AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2), _judge(model)
    amc_search(env, judge, AmcSettings(1, 0, 0.2, seed=5), hooks=AmcHooks(lambda r, s: save_amc_state(tmp_path, s)))
    fewer = AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2, left_out={"conv1": "held out"})
    with pytest.raises(UserError, match="cannot continue it"):
        amc_search(fewer, judge, AmcSettings(2, 0, 0.2, seed=5), saved=load_amc_state(tmp_path))


def test_held_out_groups_keep_their_channels():
    model, groups = _setup()
    env = AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.6), 0.2, left_out={"conv1": "x", "fc1": "y"})
    assert [g.leader for g in env.groups] == ["conv2", "conv3"] and env.left_out == {"conv1": "x", "fc1": "y"}
    result = amc_search(env, _judge(model), AmcSettings(3, 1, 0.2, seed=0))
    assert all(r.channels["conv1"] == 32 and r.channels["fc1"] == 128 for r in result.rounds)
    assert result.left_out == {"conv1": "x", "fc1": "y"}


def _round(number, ratio, top1):
    return Round(number, None, ratio, top1, {"conv1": number}, 1, 0.0)


def test_the_best_episode_within_the_target_is_chosen_else_the_cheapest_within_tolerance():
    rounds = [_round(0, 1.0, 90.0), _round(1, 0.4, 80.0), _round(2, 0.5, 85.0), _round(3, 0.5, 85.0),
              _round(4, 0.7, 89.5)]
    met = amc_result(rounds, 0.5, 1, {})
    assert met.target_reached and met.chosen(0.0).number == 2  # the most accurate; the earlier of equals
    missed = amc_result(rounds, 0.3, 1, {})
    assert not missed.target_reached and "none of 4 episodes" in missed.stopped_because
    assert missed.chosen(1.0).number == 4 and missed.chosen(20.0).number == 1 and missed.chosen(0.1).number == 0


def _amc_in_rank(rank, out, port):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    model, groups = _setup()
    judge = _judge(model)
    skewed = Judge(judge.settle, lambda m: judge.score(m) + 10.0 * rank, judge.ratio)  # rank 1 scores otherwise
    result = amc_search(AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2), skewed,
                        AmcSettings(4, 2, 0.2, seed=1))
    torch.save(_episodes(result), out / f"rank{rank}.pt")
    dist.destroy_process_group()


def test_under_torchrun_every_process_runs_the_episodes_of_the_first_ones_scores(tmp_path):
    """AMC does not split its episodes: each process runs them all, on the first process's measurements,
    so the agents (and the result) are the same everywhere."""
    import socket

    import torch.multiprocessing as mp

    model, groups = _setup()
    single = amc_search(AmcEnvironment(model, groups, EXAMPLE, Target("macs", 0.5), 0.2), _judge(model),
                        AmcSettings(4, 2, 0.2, seed=1))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mp.spawn(_amc_in_rank, args=(tmp_path, port), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(2)]
    assert ranks[0] == ranks[1]
    # The single run may use more threads, so its float sums may differ in the last digits; choices may not.
    expected = _episodes(single)
    assert [(n, channels) for n, _, _, channels in ranks[0]] == [(n, channels) for n, _, _, channels in expected]
    assert [value for _, ratio, top1, _ in ranks[0] for value in (ratio, top1)] == pytest.approx(
        [value for _, ratio, top1, _ in expected for value in (ratio, top1)], rel=1e-9)
