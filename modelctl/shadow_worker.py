"""`python -m modelctl.shadow_worker`: the detached process in which `modelctl run` does what is
left once the user has the answer: its shadow call, and the judge's work (services/judge.py).

`run` starts it once the user has the answer, writes the FollowUp to its stdin and exits without
waiting (services/run.py, `detach_followup`). The request and the answers pass only through that
pipe, never argv or the database; the worker records usage rows and verdicts and ends. It has no
terminal to report to: a failure here costs one sample and nothing else.
"""

from __future__ import annotations

import sys


def main() -> None:
    payload = sys.stdin.buffer.read()  # first, so that `run` is never held writing to the pipe
    from modelctl.services.judge import follow_up
    from modelctl.services.run import FollowUp
    from modelctl.store.db import open_store

    job, database_url = FollowUp.from_bytes(payload)
    follow_up(open_store(database_url), job)


if __name__ == "__main__":
    main()
