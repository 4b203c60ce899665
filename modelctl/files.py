"""Reading a user's file with one clear message per way it can fail."""

from __future__ import annotations

from pathlib import Path

from modelctl.errors import InvalidInput


def read_text(path: str | Path, *, error: type[InvalidInput] = InvalidInput) -> str:
    """The file's UTF-8 text; `error` (an InvalidInput kind) names the path and what is wrong."""
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
