"""`python -m modelctl.shadow_worker`: the detached process in which `modelctl run` makes its shadow call.

`run` starts it once the user has the answer, writes the call to its stdin and exits without
waiting (services/run.py, `detach_shadow`). The request passes only through that pipe, never
argv or the database; the worker records the call's usage row and ends. It has no terminal to
report to: a failure here costs one shadow sample and nothing else.
"""

from __future__ import annotations

import sys


def main() -> None:
    payload = sys.stdin.buffer.read()  # first, so that `run` is never held writing to the pipe
    from modelctl.services.run import ShadowCall, make_shadow_call
    from modelctl.store.db import open_store

    call, database_url = ShadowCall.from_bytes(payload)
    make_shadow_call(open_store(database_url), call)


if __name__ == "__main__":
    main()
