"""Recording what the snippet sends: page views under the visitor's anonymous id, and the
identified email click that ties a visitor to a contact."""

from __future__ import annotations

from importlib.resources import files

from leadflow.activity.inputs import EventInput
from leadflow.activity.service import RecordResult, record_event
from leadflow.capture.config import Site
from leadflow.capture.service import IdentifyOutcome, identify_visitor
from leadflow.clock import Clock
from leadflow.storage.database import Database
from leadflow.tracking.engine import PageView, anonymous_id, verify_token

PAGE_VIEW = "page_view"


def record_page_view(db: Database, clock: Clock, site: Site, view: PageView) -> RecordResult:
    """One page view; the first from a visitor makes their anonymous contact. A retried
    beacon (the same view id) is stored once."""
    event = EventInput(
        type=PAGE_VIEW,
        anonymous_id=view.anonymous_id,
        occurred_at=clock.now(),
        properties=view.properties(site.name),
        source=f"site:{site.name}",
        idempotency_key=f"pv:{site.key}:{view.anonymous_id}:{view.view_id}",
    )
    return record_event(db, clock, event)


def identify(
    db: Database, clock: Clock, *, secret: str, token: str, visitor: str
) -> IdentifyOutcome:
    """An identified email click: the token (signed with ``secret``) names the contact, and
    the visitor's anonymous history is stitched into it."""
    now = clock.now()
    contact_id = verify_token(secret, token, now=now)
    visitor = anonymous_id(visitor)
    with db.write() as conn:
        return identify_visitor(conn, contact_id, visitor, now=now)


def snippet() -> str:
    """The tracking snippet, as the package ships it (``leadflow/tracking/snippet.js``)."""
    return files("leadflow.tracking").joinpath("snippet.js").read_text(encoding="utf-8")
