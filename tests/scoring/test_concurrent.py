"""Two writers scoring the same contact at once lose none of each other's events."""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import record_events
from leadflow.clock import FrozenClock
from leadflow.contacts.inputs import ContactInput
from leadflow.contacts.service import capture_contact
from leadflow.scoring.service import current_score, explain, rescore
from leadflow.storage.database import Database
from leadflow.workspace import Workspace

# One occurrence a day scores, the first recorded: if two writers' events were scored in
# another order than their ids, the one that scored would be the other writer's, twelve
# hours apart, and the sum would differ by far more than rounding.
DAILY_MODEL = """
groups:
  fit: {kind: fit}
  engagement: {kind: engagement, half_life: 3d}
rules:
  - name: visits
    group: engagement
    activity: {type: [page_view, email_clicked]}
    points: 10
    cap: {per_day: 1}
grades:
  fit: {A: 40, B: 25, C: 10}
  engagement: {1: 40, 2: 20, 3: 8}
"""


def _pause_after_activity_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    if statement.lstrip().upper().startswith("INSERT INTO ACTIVITIES"):
        time.sleep(random.uniform(0, 0.01))


def test_concurrent_batches_for_one_contact_all_count(workspace: Workspace, clock: FrozenClock):
    rescore(workspace.db, clock, DAILY_MODEL, filename="daily.yaml")
    capture_contact(workspace.db, clock, ContactInput(email="ann@acme.example"))
    url = workspace.db.url.render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        # A database handle of its own, as another process would have.
        db = Database(url)
        # Widen the window between drawing activity ids and scoring them, where a batch
        # holding later ids could overtake one holding earlier ids.
        event.listen(db.engine, "after_cursor_execute", _pause_after_activity_insert)
        try:
            for i in range(15):
                at = clock.now() - timedelta(days=i, hours=1 if name == "a" else 13)
                kind = "page_view" if i % 2 else "email_clicked"
                item = EventInput(
                    type=kind,
                    occurred_at=at,
                    email="ann@acme.example",
                    idempotency_key=f"{name}{i}",
                )
                record_events(db, clock, [item])
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=writer, args=(n,)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    stored = current_score(workspace.db, "ann@acme.example", now=clock.now()).score
    _, reference = explain(workspace.db, "ann@acme.example", now=clock.now())
    assert stored.engagement == pytest.approx(reference.engagement, abs=1e-9)
    assert stored.engagement > 0
