"""Client keys of the HTTP API: created once and shown once, stored as hashes, revoked by name.

A key is 32 random bytes (256 bits), so its SHA-256 is enough to keep it: nobody can search that
space, which is what a slow password hash (bcrypt, scrypt) would guard against for guessable
secrets, at a cost of milliseconds on every request. A leaked database gives no usable key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from modelctl import clock
from modelctl.errors import InvalidInput, NotFound
from modelctl.store import keys as repo
from modelctl.store.catalog import write_audit
from modelctl.store.db import Store
from modelctl.store.keys import ClientKey

KEY_PREFIX = "mk_"  # tells a client key from the admin token at a glance, and to secret scanners
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedKey:
    key: ClientKey
    secret: str  # shown once; only its hash is stored


def create_key(store: Store, name: str, *, budget_usd: float | None = None,
               rate_limit: float | None = None) -> CreatedKey:
    from modelctl.paths import actor

    if not _NAME.fullmatch(name):
        raise InvalidInput(f"key name {name[:100]!r}: use 1-100 letters, digits, '.', '_' or '-', starting "
                           "with a letter or digit")
    if budget_usd is not None and not budget_usd >= 0:
        raise InvalidInput("--budget-usd must be 0 or more")
    if rate_limit is not None and not rate_limit > 0:
        raise InvalidInput("--rate-limit must be more than 0")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    with store.write() as conn:
        if not repo.add_key(conn, name=name, key_hash=hash_key(secret), budget_usd=budget_usd,
                            rate_limit=rate_limit, now=now):
            raise InvalidInput(f"a key named {name!r} exists (revoked keys keep their names); choose another name")
        write_audit(conn, actor=actor(), action="key-create", target=f"key:{name}",
                    after={"budget_usd": budget_usd, "rate_limit": rate_limit}, now=now)
    return CreatedKey(ClientKey(name, budget_usd, rate_limit, now, None), secret)


def list_keys(store: Store) -> list[ClientKey]:
    return repo.list_keys(store)


def revoke_key(store: Store, name: str) -> None:
    from modelctl.paths import actor

    now = clock.now()
    with store.write() as conn:
        if not repo.revoke_key(conn, name=name, now=now):
            raise NotFound(f"no live key named {name!r}; see `modelctl keys list`")
        write_audit(conn, actor=actor(), action="key-revoke", target=f"key:{name}", now=now)


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class KeyCheck:
    """What a request with a client key may do: `key` None when unknown or revoked; `refusal`
    says why a known key may not spend (its monthly budget is used up)."""

    key: ClientKey | None
    refusal: str | None = None


def check_key(store: Store, secret: str) -> KeyCheck:
    """The live key behind `secret`, and whether its month's spending (all processes' and hosts'
    usage rows, read now) leaves budget."""
    key = repo.live_key_by_hash(store, hash_key(secret))
    if key is None or key.budget_usd is None:
        return KeyCheck(key)
    now = clock.now()
    start = month_start(now)
    spent = repo.spent_since(store, key.name, start)
    if spent < key.budget_usd:
        return KeyCheck(key)
    next_month = (start + timedelta(days=32)).replace(day=1)
    return KeyCheck(key, f"key {key.name!r} has spent ${spent:,.4f} of its ${key.budget_usd:,.2f} monthly "
                         f"budget; it renews on {next_month:%Y-%m-%d} (UTC)")
