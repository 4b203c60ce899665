"""Answering a JSON-lines batch: one answer line per input line, in input order.

Batches longer than one chunk are spread over worker processes forked after the routing state is
loaded, so each worker decides from the same state without re-reading anything. A worker writes
each chunk's answers to a file in a private temporary directory (its spool), and this process
copies the files to the output in input order with sendfile, cheaper than sending the answers back
through a pipe (`python tests/benchmarks/bench_routing.py --only throughput`).

Shutting down never kills a worker mid-chunk: a worker killed while it holds one of the pool's
pipe locks leaves this process waiting on that lock forever. On a failure or Ctrl-C the chunks not
started are cancelled, the ones running finish, and the workers exit on their own.
"""

from __future__ import annotations

import errno
import itertools
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import orjson

from modelctl.errors import InvalidInput, ModelctlError, shown

if TYPE_CHECKING:
    from concurrent.futures import Future

CHUNK_LINES = 2_000
_FIELDS = frozenset({"id", "query", "attachments", "segment"})


class BatchItem(NamedTuple):
    """One input line, validated."""

    id: Any
    query: str
    attachments: tuple[str, ...]
    segment: str | None


# One line's answer as a dict: orjson writes a dict faster than a dataclass (`bench_routing.py --only throughput`).
Decide = Callable[[BatchItem], dict]
ReportError = Callable[[str], None]


class Chunk(NamedTuple):
    """Consecutive raw input lines; parsing happens where the deciding does."""

    first_line: int
    lines: list[bytes]


class Answers(NamedTuple):
    """One chunk answered: its output lines, the highest exit code among them, their errors."""

    output: bytes
    exit_code: int
    errors: list[str]


class SpooledAnswers(NamedTuple):
    """One chunk answered by a worker: the output is in the spool file at `path`."""

    path: str
    exit_code: int
    errors: list[str]


@dataclass(frozen=True)
class _WorkerSetup:
    """What every forked worker answers with: inherited through fork, never pickled."""

    decide: Decide
    source: str
    spool: str


_setup: _WorkerSetup | None = None  # set in each worker process by _start_worker, never in the parent


def answer_batch(path: str, decide: Decide, *, out: IO[bytes], report: ReportError, workers: int | None = None) -> int:
    """Write an answer line to `out` for every input line of `path` (or stdin for `-`), in order.

    A failed line gets {"id", "error", "exit_code"} and its message goes to `report`; the result
    is the highest exit code. `workers` defaults to the number of CPUs; batches shorter than two
    chunks are answered in this process.
    """
    from modelctl.services.jsonl import open_input

    workers = workers or os.cpu_count() or 1
    with open_input(path) as (stream, source):
        chunks = _chunks(stream)
        head = list(itertools.islice(chunks, 2))
        every_chunk = itertools.chain(head, chunks)
        if len(head) < 2 or workers == 1:
            return _put_in_order((_answer(chunk, source, decide) for chunk in every_chunk), out.write,
                                 report=report, out=out)
        # closed first: the workers are done before their spool directory goes
        with _spool_directory() as spool, closing(
                _answer_on_workers(every_chunk, _WorkerSetup(decide, source, spool), workers=workers)) as answers:
            return _put_in_order(answers, _SpoolSender(out).send, report=report, out=out)


def _put_in_order(answers: Iterable[Answers] | Iterable[SpooledAnswers], put: Callable[[Any], Any], *,
                  report: ReportError, out: IO[bytes]) -> int:
    """Put each chunk's output (bytes or a spool path) in order, report its errors; the highest exit code."""
    exit_code = 0
    for output, code, errors in answers:
        put(output)
        for error in errors:
            report(error)
        exit_code = max(exit_code, code)
    out.flush()
    return exit_code


def _chunks(stream: Iterable[bytes]) -> Iterator[Chunk]:
    first, lines = 1, []
    for line in stream:
        lines.append(line)
        if len(lines) >= CHUNK_LINES:
            yield Chunk(first, lines)
            first, lines = first + len(lines), []
    if lines:
        yield Chunk(first, lines)


def _item(data: Any) -> BatchItem:
    if not isinstance(data, dict):
        raise InvalidInput("each line must be a JSON object")
    if not data.keys() <= _FIELDS:
        unknown = sorted(data.keys() - _FIELDS)
        raise InvalidInput(f"{shown(unknown[0])}: unknown field; valid: {', '.join(sorted(_FIELDS))}")
    query, attachments, segment = data.get("query"), data.get("attachments") or [], data.get("segment")
    if not isinstance(query, str):
        raise InvalidInput("query: required, a string")
    if not isinstance(attachments, list) or (attachments and not all(isinstance(a, str) for a in attachments)):
        raise InvalidInput("attachments: must be a list of paths or URLs")
    if segment is not None and (not isinstance(segment, str) or not segment.strip()):
        raise InvalidInput("segment: must be a non-empty string")
    return BatchItem(data.get("id"), query, tuple(attachments), segment)


def _line(item_id: Any, result: dict) -> bytes:
    """`{"id": ..., <result's fields>}`."""
    body = orjson.dumps(result, default=str)
    head = b'{"id":' + orjson.dumps(item_id, default=str)
    return head + (b"," + body[1:] if body != b"{}" else b"}") + b"\n"


def _answer(chunk: Chunk, source: str, decide: Decide) -> Answers:
    from modelctl.services.jsonl import iter_json_lines

    out, exit_code, errors = [], 0, []
    for number, data, error in iter_json_lines(chunk.lines, source, start=chunk.first_line):
        item_id = data.get("id") if isinstance(data, dict) else None
        code = 2
        if error is None:
            try:
                out.append(_line(item_id, decide(_item(data))))
                continue
            except ModelctlError as exc:
                error, code = f"{source}:{number}: {exc}", exc.exit_code
        exit_code = max(exit_code, code)
        errors.append(error)
        out.append(_line(item_id, {"error": error, "exit_code": code}))
    return Answers(b"".join(out), exit_code, errors)


# --- on worker processes ---------------------------------------------------------------------

def _answer_on_workers(chunks: Iterator[Chunk], setup: _WorkerSetup, *,
                       workers: int) -> Generator[SpooledAnswers, None, None]:
    """Each chunk's spooled answers, in input order, at most two chunks per worker in flight.

    However the iteration ends (a failed chunk, Ctrl-C, the generator closed), the pool is shut
    down before it returns: chunks not started are cancelled, running ones finish.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_start_worker, initargs=(setup,))
    in_flight: deque[Future[SpooledAnswers]] = deque()
    try:
        with _sigint_blocked():  # the workers are forked at the first submit and must never see Ctrl-C
            in_flight.append(pool.submit(_answer_in_worker, next(chunks)))
        for chunk in chunks:
            in_flight.append(pool.submit(_answer_in_worker, chunk))
            if len(in_flight) >= 2 * workers:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    except BrokenProcessPool:
        raise ModelctlError("a batch worker process died (killed, or out of memory); "
                            "run the batch again, with fewer --workers, or with --workers 1") from None
    finally:
        with _sigint_ignored():  # a second Ctrl-C must not cut the cleanup short
            pool.shutdown(wait=True, cancel_futures=True)


def _start_worker(setup: _WorkerSetup) -> None:
    global _setup
    _setup = setup
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _answer_in_worker(chunk: Chunk) -> SpooledAnswers:
    """Answer a chunk into a spool file; its path, exit code and errors go back to the parent."""
    assert _setup is not None, "runs only in a worker started by _start_worker"
    output, exit_code, errors = _answer(chunk, _setup.source, _setup.decide)
    path = os.path.join(_setup.spool, f"{chunk.first_line}.jsonl")
    try:
        with open(path, "wb") as spooled:
            spooled.write(output)
    except OSError as exc:
        raise _spool_error(_setup.spool, exc) from None
    return SpooledAnswers(path, exit_code, errors)


@contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back from this thread (and from the processes and threads it starts) inside;
    one that arrives meanwhile is delivered on leaving."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- spool files -----------------------------------------------------------------------------

@contextmanager
def _spool_directory() -> Iterator[str]:
    """A private (mode 0700) temporary directory, removed with whatever is left in it."""
    import tempfile

    try:
        spooling = tempfile.TemporaryDirectory(prefix="modelctl-batch-")
    except OSError as exc:
        raise _spool_error(os.environ.get("TMPDIR") or "the temporary directory", exc) from None
    with spooling as spool:
        yield spool


def _spool_error(where: str, exc: OSError) -> ModelctlError:
    return ModelctlError(f"cannot write the batch's answers to {where}: {exc.strerror}; free space "
                         "there, point TMPDIR at a directory with room, or use --workers 1")


class _SpoolSender:
    """Copies spool files to `out` and deletes them: in the kernel with sendfile when `out` is a
    real file or pipe, else (a terminal, a test's capture) through a buffer."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._fd: int | None
        try:
            self._fd = out.fileno()
            out.flush()
        except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
            self._fd = None

    def send(self, path: str) -> None:
        with open(path, "rb") as spooled:
            size, sent = os.fstat(spooled.fileno()).st_size, 0
            while self._fd is not None and sent < size:
                try:
                    copied = os.sendfile(self._fd, spooled.fileno(), sent, size - sent)
                except OSError as exc:
                    if sent or exc.errno not in (errno.EINVAL, errno.ENOSYS):
                        raise
                    self._fd = None  # this output takes no sendfile: buffer from here on
                    break
                if not copied:
                    break
                sent += copied
            if sent < size:
                spooled.seek(sent)
                self._out.write(spooled.read())
        os.unlink(path)
