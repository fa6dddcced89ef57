"""The notice outbox: notices are written as ``pending`` in the transaction that caused
them and delivered after it by :func:`deliver_notices` (a crash between the two sends
nothing twice: each notice has its idempotency key, and a delivered one is marked
``sent``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from leadflow.channels import Channel, Notice
from leadflow.routing.config import User
from leadflow.routing.models import notices
from leadflow.storage.database import Database


def notice_row(
    *,
    kind: str,
    recipient: User,
    subject: str,
    body: str,
    data: Mapping[str, Any],
    key: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "recipient": recipient.id,
        "channel": "",
        "subject": subject,
        "data": {**data, "body": body, "email": recipient.email},
        "status": "pending",
        "attempts": 0,
        "created_at": now,
        "idempotency_key": key,
    }


def queue_notice(conn: Connection, **notice: Any) -> None:
    conn.execute(insert(notices).values(**notice_row(**notice)))


# A notice that still fails this long after it was made is given up (status "dead"), as
# webhook deliveries are: a channel that is down for days is not retried for ever.
NOTICE_GIVE_UP = timedelta(hours=72)


def deliver_notices(db: Database, channel: Channel, *, now: datetime) -> tuple[int, int]:
    """Send every pending or failed notice through ``channel``; (sent, failed). Each
    outcome is written as soon as it is known; a failure past :data:`NOTICE_GIVE_UP`
    marks the notice dead (counted as failed, and not tried again)."""
    with db.read() as conn:
        waiting = (
            conn.execute(
                select(notices)
                .where(or_(notices.c.status == "pending", notices.c.status == "failed"))
                .order_by(notices.c.id)
            )
            .mappings()
            .all()
        )
    sent = failed = 0
    for row in waiting:
        delivery = channel.send(_notice(row))
        status = "sent" if delivery.ok else "failed"
        if not delivery.ok and row["created_at"] + NOTICE_GIVE_UP <= now:
            status = "dead"
        with db.write() as conn:
            conn.execute(
                update(notices)
                .where(notices.c.id == row["id"])
                .values(
                    status=status,
                    channel=delivery.channel,
                    detail=delivery.detail,
                    attempts=row["attempts"] + delivery.attempts,
                )
            )
        sent, failed = (sent + 1, failed) if delivery.ok else (sent, failed + 1)
    return sent, failed


def _notice(row: RowMapping) -> Notice:
    data = dict(row["data"])
    body, email = data.pop("body", ""), data.pop("email", "")
    return Notice(
        kind=row["kind"],
        recipient_user_id=row["recipient"],
        recipient_email=email,
        subject=row["subject"],
        body=body,
        idempotency_key=row["idempotency_key"],
        data=data,
    )


def list_notices(db: Database, *, status: str | None = None) -> list[dict[str, Any]]:
    query = select(notices).order_by(notices.c.id)
    if status is not None:
        query = query.where(notices.c.status == status)
    with db.read() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
