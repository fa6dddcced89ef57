"""A channel that writes each notice as one JSON line to the ``leadflow.notices`` logger.

Useful before a real channel is set up, and as an audit trail next to one. The body is left
out: the subject and ``data`` identify the notice, and bodies make log lines long.
"""

from __future__ import annotations

import json
import logging

from leadflow.channels.base import Channel, Delivery, Notice

LOGGER_NAME = "leadflow.notices"


class LogChannel(Channel):
    name = "log"

    def __init__(self, logger: logging.Logger | None = None, *, level: int = logging.INFO) -> None:
        self._logger = logger or logging.getLogger(LOGGER_NAME)
        self._level = level

    def send(self, notice: Notice) -> Delivery:
        line = json.dumps(
            {
                "kind": notice.kind,
                "recipient": {"user_id": notice.recipient_user_id, "email": notice.recipient_email},
                "subject": notice.subject,
                "data": dict(notice.data),
                "idempotency_key": notice.idempotency_key,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        # "%s" so a "%" in a subject is never taken as a format directive.
        self._logger.log(self._level, "%s", line)
        return Delivery(ok=True, channel=self.name, detail=f"logged to {self._logger.name}")
