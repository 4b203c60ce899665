"""Did-you-mean: the names closest to one that was mistyped, the obvious ones first."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest_names(name: str, choices: Iterable[str], *, limit: int = 3) -> list[str]:
    """Names that start with `name` (shortest first), then names that contain it, then look like it.

    difflib alone ranks `gpt-6-luna` above `gpt-4o-2024-08-06` for `gpt-4o`; a person who typed the
    start of a name means the names that start that way.
    """
    choices = sorted(set(choices))
    folded = name.casefold()
    prefixed = sorted((c for c in choices if c.casefold().startswith(folded)), key=len)
    contained = sorted((c for c in choices if folded in c.casefold() and c not in prefixed), key=len)
    alike = difflib.get_close_matches(name, choices, n=limit, cutoff=0.5)
    ranked = [*prefixed, *contained, *(c for c in alike if c not in prefixed and c not in contained)]
    return ranked[:limit]
