"""Module-name regular expressions in schedule configs, checked when the config is validated (no torch)."""
from __future__ import annotations

import re
from typing import Iterable, Optional


def check_regexes(patterns: Optional[Iterable[str]], kind: str = "override") -> None:
    """ValueError naming the first pattern that does not compile (pydantic reports it with its field)."""
    for pattern in patterns or ():
        try:
            re.compile(pattern)
        except re.error as err:
            raise ValueError(f"{kind} '{pattern}' is not a valid regular expression ({err})") from None
