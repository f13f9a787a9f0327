"""`compressor auto --strategy amc`: a run's AMC search, from its flags, with its saved agent.

    environment = prepare_amc(job)      # --amc-file read, costs probed; every check, nothing written
    result = run_amc(job, environment, judge, progress, stop, save_rounds)

The agent's random numbers start from the dense run's seed plus SEED_OFFSET, so the same flags
run the same episodes (on one machine). After every episode amc_state.pt is written, then
`save_rounds(rounds, left_out)` writes auto_state.json; a stop request ends the search before
the next episode, and `--resume` continues from amc_state.pt.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

from ..core.errors import TrainingInterrupted
from ..thinning.detect import LAYER_TYPES
from ..training.stopping import StopRequest
from .auto_amc_file import listed_layers, unlisted_groups
from .auto_amc_env import AmcEnvironment
from .auto_amc_result import AmcResult
from .auto_amc_search import AmcHooks, AmcSettings, amc_search
from .auto_amc_state import AMC_STATE_FILE, load_amc_state, save_amc_state
from .auto_greedy import Judge, Progress, Round, SearchInterrupted
from .auto_job import AutoJob

SEED_OFFSET = 1009


def prepare_amc(job: AutoJob) -> AmcEnvironment:
    """The groups AMC searches (those --amc-file lists, when given) and their cost model."""
    amc, model = job.config.amc.resolved(), job.loaded.model
    left_out: Dict[str, str] = {}
    if amc.file is not None:
        layers = [name for name, module in model.named_modules() if isinstance(module, LAYER_TYPES)]
        listed = listed_layers(amc.file, job.loaded.info.name, layers)
        left_out = unlisted_groups(job.space.groups, listed, amc.file)
    return AmcEnvironment(model, job.space.groups, job.example, job.config.target, amc.min_keep, left_out)


def run_amc(job: AutoJob, environment: AmcEnvironment, judge: Judge, progress: Progress,
            stop: Optional[StopRequest], save_rounds: Callable[[List[Round], Dict[str, str]], None]) -> AmcResult:
    stop = stop or StopRequest()
    amc = job.config.amc.resolved()
    settings = AmcSettings(amc.episodes, amc.warmup, amc.min_keep, job.training.seed + SEED_OFFSET)
    saved = load_amc_state(job.folder) if job.state.rounds else None

    def after_episode(rounds: List[Round], snapshot) -> None:
        if job.ranks.is_main:
            save_amc_state(job.folder, snapshot)
        save_rounds(rounds, environment.left_out)

    try:
        return amc_search(environment, judge, settings, progress, AmcHooks(after_episode, lambda: stop.requested),
                          saved)
    except SearchInterrupted as err:
        episodes = f"{err.completed} episode{'' if err.completed == 1 else 's'}"
        raise TrainingInterrupted(f"{stop.reason} received: stopped the AMC search after {episodes} of "
                                  f"{amc.episodes} (saved in {job.folder / AMC_STATE_FILE}); resume with "
                                  f"compressor auto --resume {job.folder}", stop.exit_code) from None
