"""Every failure modelctl reports on purpose is a ModelctlError; anything else is a bug.

The CLI catches these at the edge and turns them into an exit code and one message that names
the fix. Domain code never prints and never exits.

    ModelctlError                  exit 1  operational failure
    ├── Interrupted                exit 130  Ctrl-C: what was stopped, and how to carry on
    ├── InvalidInput               exit 2  bad usage, bad file, bad value (names file/line/field)
    │   └── ConfigError            exit 2  a bundled or user YAML config file is wrong
    ├── NotFound                   exit 3  unknown model, provider, rollout ...
    ├── StoreError                 exit 1  database unwritable, corrupt, or behind its schema
    ├── NoEligibleModel            exit 1  routing dropped every candidate (carries the trace)
    ├── AllModelsFailed            exit 4  every model in the chain failed (carries the attempts)
    └── ProviderError              exit 1  one provider call failed; `kind` says how
        ├── ProviderTimeout                the attempt ran out of its share of the budget
        ├── ProviderUnavailable            5xx, a connection dropped mid-answer
        │   └── ConnectionFailed           the host could not be reached at all (refused, DNS, TLS)
        ├── RateLimited                    429; `retry_after` seconds when the provider said
        ├── AuthenticationFailed           401/403 or the key env var is not set
        ├── ContextLengthExceeded          the prompt does not fit the model's window
        ├── InvalidRequest                 400/404/422: retrying the same model cannot help
        ├── MalformedResponse              the provider answered something we cannot parse
        └── CallCancelled                  the client went away mid-answer (the gateway stops the call)
"""

from __future__ import annotations

from typing import Any


class ModelctlError(Exception):
    """Base of all expected failures; `exit_code` is what the CLI exits with."""

    exit_code = 1


class Interrupted(ModelctlError):
    """The user pressed Ctrl-C. The CLI turns any KeyboardInterrupt into this at its edge; a command
    whose work survives in part (an import) raises it itself, saying how to carry on."""

    exit_code = 130  # what a shell reports for a command stopped by SIGINT (128 + 2)

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)


class InvalidInput(ModelctlError):
    exit_code = 2


class ConfigError(InvalidInput):
    pass


class NotFound(ModelctlError):
    exit_code = 3


class StoreError(ModelctlError):
    pass


class NoEligibleModel(ModelctlError):
    def __init__(self, message: str, *, trace: list[Any] | None = None) -> None:
        super().__init__(message)
        self.trace = trace or []


class AllModelsFailed(ModelctlError):
    exit_code = 4

    def __init__(self, message: str, *, attempts: list[Any] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


class ProviderError(ModelctlError):
    """A single provider call failed. `kind` is the short name recorded as usage.error_kind."""

    kind = "provider_error"
    retry_same_model = False
    fall_back = True


class ProviderTimeout(ProviderError):
    kind = "timeout"


class ProviderUnavailable(ProviderError):
    kind = "unavailable"


class ConnectionFailed(ProviderUnavailable):
    """Nothing answered: every model of that provider would fail the same way."""

    kind = "connection"


class RateLimited(ProviderError):
    kind = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthenticationFailed(ProviderError):
    kind = "auth"


class ContextLengthExceeded(ProviderError):
    kind = "context_length"


class InvalidRequest(ProviderError):
    kind = "invalid_request"


class MalformedResponse(ProviderError):
    kind = "malformed_response"


class CallCancelled(ProviderError):
    """Raised into a streaming call when its client disconnected: says nothing about the model."""

    kind = "cancelled"
    fall_back = False


def shown(value: object, *, limit: int = 60) -> str:
    """A user-supplied name as it may appear in a message: control and line-breaking characters
    escaped (nothing reaches the terminal raw), and bounded in length."""
    text = str(value)
    escaped = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."
