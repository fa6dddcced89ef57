"""What a channel sends and what it answers: :class:`Notice`, :class:`Delivery`, :class:`Channel`.

A channel is pure transport. It never raises because a delivery failed: it returns a failed
:class:`Delivery` with the reason, and the caller (which records every notice) decides what
to do. It raises only for programming errors, such as a notice that cannot be serialised.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, get_args

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
NoticeKind = Literal["handoff", "escalation", "recycled", "unrouted"]
NOTICE_KINDS: frozenset[str] = frozenset(get_args(NoticeKind))


@dataclass(frozen=True)
class Notice:
    """One message to one salesperson.

    ``data`` carries the machine-readable facts (contact id, task id, deadline as ISO text...)
    and must be JSON-serialisable; ``idempotency_key`` is the same on every retry of the same
    notice so a receiver can drop duplicates.
    """

    kind: NoticeKind
    recipient_user_id: str  # a user id of routing.yaml (a slug)
    recipient_email: str
    subject: str
    body: str
    idempotency_key: str
    # A dict is not hashable; leaving it out of the hash keeps the dataclass hashable.
    data: Mapping[str, JsonValue] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.kind not in NOTICE_KINDS:
            raise ValueError(f"unknown notice kind {self.kind!r}; known: {sorted(NOTICE_KINDS)}")
        if not self.idempotency_key:
            raise ValueError("a notice needs a non-empty idempotency_key")
        # A copy, so the caller changing its dict later cannot change a sent notice.
        object.__setattr__(self, "data", dict(self.data))
        # Fail where the notice is built, not later inside a channel.
        json.dumps(self.data, allow_nan=False)

    def to_json(self) -> dict[str, Any]:
        """The notice as a JSON object (what the webhook posts)."""
        return {
            "kind": self.kind,
            "recipient": {"user_id": self.recipient_user_id, "email": self.recipient_email},
            "subject": self.subject,
            "body": self.body,
            "data": dict(self.data),
            "idempotency_key": self.idempotency_key,
        }


@dataclass(frozen=True)
class Delivery:
    """The outcome of one ``send``: ``detail`` is e.g. ``"HTTP 200"`` or the error."""

    ok: bool
    channel: str
    detail: str
    attempts: int = 1


class Channel(ABC):
    """A way to deliver notices. Subclasses set ``name`` and implement ``send``."""

    name: str

    @abstractmethod
    def send(self, notice: Notice) -> Delivery:
        """Deliver ``notice``; report failures in the returned :class:`Delivery`, never raise."""

    def close(self) -> None:  # noqa: B027 - optional hook; most channels hold nothing
        """Release what the channel holds (connections). Safe to call twice."""
