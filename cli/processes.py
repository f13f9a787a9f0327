"""Commands torchrun may start in several processes: the work runs in every one, the output comes from the first."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict

from .common import emit_json

if TYPE_CHECKING:
    from ..compression.distributed import Ranks


def run_in_every_process(work: Callable[[Ranks], Dict[str, Any]], render: Callable[[Dict[str, Any]], None],
                         as_json: bool) -> None:
    """`work(ranks)` in this process (leaving the process group however it ends); then, in the first
    process only, its report as JSON or through `render`."""
    from ..compression.distributed import leave, ranks_from_environment  # torch: not for `--help`

    ranks = ranks_from_environment()
    try:
        report = work(ranks)
    finally:
        leave()
    if not ranks.is_main:
        return
    if as_json:
        emit_json(report)
    else:
        render(report)
