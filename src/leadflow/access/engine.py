"""API keys as values: their shape, how they are made and hashed, and who they speak for.

A key reads ``lf_<prefix>_<secret>``: the prefix (8 hex characters, not secret) names the key
in lists and logs; the secret is 256 random bits. Only the SHA-256 of the whole key is kept.
A slow password hash (bcrypt, argon2) guards low-entropy secrets against guessing; a 256-bit
random secret cannot be guessed, and the hash is checked on every request, where a slow hash
would cost tens of milliseconds each time (see decision 15).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    marketing = "marketing"
    sales = "sales"


@dataclass(frozen=True)
class Principal:
    """The caller behind a request: which key, its role and, for sales, the user it acts for."""

    key_id: int
    prefix: str
    role: Role
    user_id: str | None


@dataclass(frozen=True)
class NewKey:
    prefix: str
    plaintext: str
    secret_hash: str


_SHAPE = re.compile(r"lf_([0-9a-f]{8})_[A-Za-z0-9_-]{43}")


def generate_key() -> NewKey:
    prefix = secrets.token_hex(4)
    plaintext = f"lf_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(prefix=prefix, plaintext=plaintext, secret_hash=hash_key(plaintext))


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def looks_like_key(text: str) -> bool:
    """Whether ``text`` has a key's shape: anything else is refused without a database look-up."""
    return _SHAPE.fullmatch(text) is not None
