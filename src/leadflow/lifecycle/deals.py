"""Deals: what a contact in ``opportunity`` may buy, and how it ends; customer health.

- :func:`open_deal` creates a deal (amount, currency, expected close, deal stage,
  probability) linked to the contact and its account, and moves the contact to
  ``opportunity`` through the lifecycle's allowed moves (cause ``deal``), in one transaction.
- Every opportunity has an open deal: a contact moved to ``opportunity`` by hand or by a rule
  gets a default one from :func:`ensure_deal`, which the lifecycle service calls as it
  records the move.
- :func:`win_deal` closes a deal as won (probability 1, a renewal date, one year on by
  default) and makes the contact a customer; :func:`lose_deal` closes it as lost
  (probability 0) and moves the contact to ``lost`` when it was an opportunity with no other
  open deal, so a customer who turns down an extra deal stays a customer.
- A closed deal stays closed; the contact keeps its timeline (activities, stage moves) as a
  customer, and :func:`customer_health` reads its health from that timeline
  (:mod:`leadflow.lifecycle.health`).

The pure decisions (validating terms, default probabilities, the renewal date) are at the
bottom of this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pycountry
from sqlalchemy import Connection, func, insert, select, update

from leadflow.activity.models import activities
from leadflow.clock import Clock
from leadflow.contacts.models import accounts, contacts
from leadflow.contacts.queries import resolve_contact_id
from leadflow.errors import ConfigError, Conflict, ContactErased, NotFound, ValidationError
from leadflow.lifecycle import health

# A module import, not names: the lifecycle service imports this module to call
# ensure_deal, and module imports keep that cycle working whichever side loads first.
from leadflow.lifecycle import service as lifecycle
from leadflow.lifecycle.config import LifecycleConfig
from leadflow.lifecycle.engine import Move, check_move
from leadflow.lifecycle.health import Health
from leadflow.lifecycle.models import deals
from leadflow.privacy.tombstones import is_erased
from leadflow.storage.database import Database
from leadflow.webhooks import engine as webhooks
from leadflow.webhooks.service import publish

OPPORTUNITY, CUSTOMER, LOST = "opportunity", "customer", "lost"
# The deal pipeline's stages and the probability each implies unless one is given.
DEAL_STAGES: Mapping[str, float] = {"qualification": 0.2, "proposal": 0.5, "negotiation": 0.75}
DEFAULT_STAGE = "qualification"
STATUSES = ("open", "won", "lost")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal(10) ** 12  # Numeric(14, 2): twelve digits before the point
NAME_LENGTH = 255


@dataclass(frozen=True)
class Deal:
    id: int
    contact_id: int
    account_id: int | None
    owner_id: str | None
    name: str
    amount: Decimal | None
    currency: str
    expected_close: date | None
    stage: str
    probability: float
    status: str  # open | won | lost
    reason: str | None
    renewal_date: date | None
    created_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Terms:
    """A deal's terms, checked."""

    amount: Decimal | None = None
    currency: str = "USD"
    expected_close: date | None = None
    stage: str = DEFAULT_STAGE
    probability: float = DEAL_STAGES[DEFAULT_STAGE]


@dataclass(frozen=True)
class _Contact:
    id: int
    stage: str | None
    account_id: int | None
    owner_id: str | None
    label: str  # the account's name, else the contact's: a default deal's name


# -- opening -------------------------------------------------------------------------------


def open_deal(
    db: Database,
    clock: Clock,
    contact_ref: str | int,
    *,
    name: str | None = None,
    amount: Decimal | None = None,
    currency: str = "USD",
    expected_close: date | None = None,
    stage: str = DEFAULT_STAGE,
    probability: float | None = None,
    owner: str | None = None,
    by: str,
) -> Deal:
    """Open a deal for a contact and make the contact an opportunity (cause ``deal``);
    refused, nothing written, when a term is invalid or the lifecycle does not allow the
    move. The owner is ``owner``, else the contact's, else who opens it."""
    terms = check_terms(amount, currency, expected_close, stage, probability)
    title = check_name(name)
    who = required_text(by, "by", "say who opens the deal")
    now = clock.now()
    with db.write() as conn:
        config = _lifecycle(conn)
        contact = _contact(conn, resolve_contact_id(conn, contact_ref))
        move = opportunity_move(config, contact.stage)
        owner = owner or contact.owner_id or who
        title = title or contact.label
        deal_id = _insert(conn, contact, terms, name=title, owner=owner, now=now)
        if move is not None:
            _move(conn, contact.id, move, now=now, by=who, why=f"deal {deal_id} opened: {title}")
        return _get(conn, deal_id)


def ensure_deal(conn: Connection, contact_id: int, *, now: datetime, by: str | None) -> Deal | None:
    """In the caller's transaction: open a default deal (named after the account or the
    contact, no amount) for a contact that has no open deal; the deal opened, or None when
    one was open already. ``by``: who moved the contact (None for a rule); the deal's owner
    when the contact has none."""
    if _open_deal_ids(conn, contact_id):
        return None
    contact = _contact(conn, contact_id)
    owner = contact.owner_id or by
    deal_id = _insert(conn, contact, Terms(), name=contact.label, owner=owner, now=now)
    return _get(conn, deal_id)


def _insert(
    conn: Connection,
    contact: _Contact,
    terms: Terms,
    *,
    name: str,
    owner: str | None,
    now: datetime,
) -> int:
    row = {
        "contact_id": contact.id,
        "account_id": contact.account_id,
        "owner_id": owner,
        "name": name[:NAME_LENGTH],
        "amount": terms.amount,
        "currency": terms.currency,
        "expected_close": terms.expected_close,
        "stage": terms.stage,
        "probability": terms.probability,
        "status": "open",
        "created_at": now,
    }
    return int(conn.execute(insert(deals).values(row).returning(deals.c.id)).scalar_one())


# -- the pipeline and closing --------------------------------------------------------------


def set_deal_stage(
    db: Database, deal_id: int, stage: str, probability: float | None = None
) -> Deal:
    """Move an open deal to another pipeline stage; its probability is the stage's unless
    one is given."""
    checked = check_stage(stage)
    chance = check_probability(probability, checked)
    with db.write() as conn:
        _open(conn, deal_id)
        conn.execute(
            update(deals).where(deals.c.id == deal_id).values(stage=checked, probability=chance)
        )
        return _get(conn, deal_id)


def win_deal(
    db: Database,
    clock: Clock,
    deal_id: int,
    *,
    reason: str,
    renewal_date: date | None = None,
    by: str,
) -> Deal:
    """Close a deal as won and make its contact a customer (cause ``deal``). The renewal
    date is one year after closing unless given; a closed deal cannot be closed again."""
    why = required_text(reason, "reason", "say why the deal was won")
    who = required_text(by, "by", "say who closes the deal")
    now = clock.now()
    renewal = check_renewal(renewal_date, now.date())
    with db.write() as conn:
        config = _lifecycle(conn)
        contact = _contact(conn, _open(conn, deal_id).contact_id)
        _close(conn, deal_id, "won", why, now=now, renewal=renewal)
        move = win_move(config, contact.stage)
        if move is not None:
            _move(conn, contact.id, move, now=now, by=who, why=f"deal {deal_id} won: {why}")
        return _published(conn, _get(conn, deal_id), now=now)


def lose_deal(db: Database, clock: Clock, deal_id: int, *, reason: str, by: str) -> Deal:
    """Close a deal as lost; an opportunity with no other open deal moves to ``lost``
    (cause ``deal``). A closed deal cannot be closed again."""
    why = required_text(reason, "reason", "say why the deal was lost")
    who = required_text(by, "by", "say who closes the deal")
    now = clock.now()
    with db.write() as conn:
        config = _lifecycle(conn)
        contact = _contact(conn, _open(conn, deal_id).contact_id)
        _close(conn, deal_id, "lost", why, now=now, renewal=None)
        if contact.stage == OPPORTUNITY and not _open_deal_ids(conn, contact.id):
            move = check_move(config, contact.stage, LOST)
            _move(conn, contact.id, move, now=now, by=who, why=f"deal {deal_id} lost: {why}")
        return _published(conn, _get(conn, deal_id), now=now)


def _close(
    conn: Connection, deal_id: int, status: str, reason: str, *, now: datetime, renewal: date | None
) -> None:
    # Only while still open: of two processes closing the same deal at once, one wins.
    closed = conn.execute(
        update(deals)
        .where(deals.c.id == deal_id, deals.c.status == "open")
        .values(
            status=status,
            reason=reason,
            probability=1.0 if status == "won" else 0.0,
            renewal_date=renewal,
            closed_at=now,
        )
    )
    if closed.rowcount != 1:
        raise Conflict(f"deal {deal_id} is closed already")


def _published(conn: Connection, closed: Deal, *, now: datetime) -> Deal:
    """``closed``, after telling webhook subscribers (deal.won or deal.lost)."""
    payload = webhooks.deal_closed(
        closed.id,
        closed.contact_id,
        owner_id=closed.owner_id,
        amount=closed.amount,
        currency=closed.currency,
        closed_at=closed.closed_at or now,
    )
    topic = webhooks.DEAL_WON if closed.status == "won" else webhooks.DEAL_LOST
    publish(conn, topic, [payload], now=now)
    return closed


def _move(
    conn: Connection, contact_id: int, move: Move, *, now: datetime, by: str, why: str
) -> None:
    # The lifecycle service's own writer, so a deal's move is a transition like any other;
    # the new stage's rules may hold at once, as after a move by hand.
    lifecycle._record(conn, contact_id, move, now=now, cause="deal", by=by, reason=why)
    lifecycle.apply_rules(conn, [contact_id], now=now)


# -- reading -------------------------------------------------------------------------------


def deal(db: Database, deal_id: int) -> Deal:
    with db.read() as conn:
        return _get(conn, deal_id)


def list_deals(db: Database, *, status: str | None = None, owner: str | None = None) -> list[Deal]:
    """Deals, oldest first; only those of a status (open, won, lost) or an owner if given."""
    query = select(deals).order_by(deals.c.id)
    if status is not None:
        query = query.where(deals.c.status == check_status(status))
    if owner is not None:
        query = query.where(deals.c.owner_id == owner)
    with db.read() as conn:
        return [Deal(**row) for row in conn.execute(query).mappings()]


def customer_health(db: Database, clock: Clock, contact_ref: str | int) -> Health:
    """A contact's health as of now, from the signals in its timeline."""
    now = clock.now()
    with db.read() as conn:
        contact_id = resolve_contact_id(conn, contact_ref)
        rows = conn.execute(
            select(
                activities.c.id,
                activities.c.type,
                activities.c.occurred_at,
                activities.c.properties,
            )
            .where(
                activities.c.contact_id == contact_id,
                activities.c.type.in_(health.SIGNAL_TYPES),
                activities.c.occurred_at > now - health.WINDOW,
            )
            .order_by(activities.c.occurred_at, activities.c.id)
        ).mappings()
        return health.assess([dict(row) for row in rows], now=now)


def _get(conn: Connection, deal_id: int) -> Deal:
    row = conn.execute(select(deals).where(deals.c.id == deal_id)).mappings().first()
    if row is None:
        raise NotFound(f"no deal {deal_id}")
    return Deal(**row)


def _open(conn: Connection, deal_id: int) -> Deal:
    found = _get(conn, deal_id)
    if found.status != "open":
        raise Conflict(f"deal {deal_id} is {found.status} already")
    return found


def _open_deal_ids(conn: Connection, contact_id: int) -> list[int]:
    query = select(deals.c.id).where(deals.c.contact_id == contact_id, deals.c.status == "open")
    return list(conn.scalars(query))


def _contact(conn: Connection, contact_id: int) -> _Contact:
    """The deal's contact, as opening or closing a deal reads it; refused for an erased
    person's tombstone (a deal opened or closed would move it and record free text)."""
    person = func.trim(
        func.coalesce(contacts.c.first_name, "") + " " + func.coalesce(contacts.c.last_name, "")
    )
    row = conn.execute(
        select(
            contacts.c.stage,
            contacts.c.account_id,
            contacts.c.owner_id,
            accounts.c.name,
            accounts.c.domain,
            func.nullif(person, ""),
            contacts.c.email,
            is_erased(contacts.c.id).label("erased"),
        )
        .select_from(contacts.outerjoin(accounts, accounts.c.id == contacts.c.account_id))
        .where(contacts.c.id == contact_id)
    ).one()
    if row.erased:
        raise ContactErased(contact_id)
    label = next((str(v) for v in row[3:7] if v), f"contact {contact_id}")
    return _Contact(contact_id, row.stage, row.account_id, row.owner_id, label)


def _lifecycle(conn: Connection) -> LifecycleConfig:
    config = lifecycle.active_lifecycle(conn)
    if config is None:
        raise ConfigError("no lifecycle is active yet (run `leadflow lifecycle load`)")
    return config


# -- pure decisions ------------------------------------------------------------------------


def check_terms(
    amount: Decimal | None,
    currency: str,
    expected_close: date | None,
    stage: str,
    probability: float | None,
) -> Terms:
    checked = check_stage(stage)
    return Terms(
        amount=check_amount(amount),
        currency=check_currency(currency),
        expected_close=check_day(expected_close, "expected_close"),
        stage=checked,
        probability=check_probability(probability, checked),
    )


def check_amount(amount: Decimal | None) -> Decimal | None:
    """A non-negative amount in cents, as a Decimal (a float is not exact money)."""
    if amount is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise ValidationError(f"{amount!r}: give a Decimal, not a float", field="amount")
    value = Decimal(amount)
    if not value.is_finite() or value < 0:
        raise ValidationError(f"{amount}: use a number of 0 or more", field="amount")
    if value >= MAX_AMOUNT:
        raise ValidationError(f"{amount}: use less than {MAX_AMOUNT:,}", field="amount")
    if value != value.quantize(CENT):
        raise ValidationError(f"{amount}: use at most 2 decimals", field="amount")
    return value.quantize(CENT)


def check_currency(code: str) -> str:
    text = code.strip().upper()
    if len(text) != 3 or not text.isalpha() or pycountry.currencies.get(alpha_3=text) is None:
        raise ValidationError(f"{code!r} is not an ISO 4217 currency code", field="currency")
    return text


def check_stage(stage: str) -> str:
    if stage not in DEAL_STAGES:
        stages = ", ".join(DEAL_STAGES)
        raise ValidationError(f"unknown deal stage {stage!r}; stages: {stages}", field="stage")
    return stage


def check_probability(probability: float | None, stage: str) -> float:
    """The probability given (0..1), else the deal stage's."""
    if probability is None:
        return DEAL_STAGES[stage]
    if isinstance(probability, bool) or not isinstance(probability, int | float):
        raise ValidationError(f"{probability!r}: use a number from 0 to 1", field="probability")
    if not 0 <= probability <= 1:  # NaN fails too
        raise ValidationError(f"{probability}: use a number from 0 to 1", field="probability")
    return float(probability)


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationError(f"{status!r}: use one of {', '.join(STATUSES)}", field="status")
    return status


def check_day(value: date | None, field: str) -> date | None:
    # A datetime is a date too, but a deal's dates are days: refuse it rather than guess.
    if value is not None and (isinstance(value, datetime) or not isinstance(value, date)):
        raise ValidationError(f"{value!r}: give a date (YYYY-MM-DD)", field=field)
    return value


def check_name(name: str | None) -> str | None:
    text = (name or "").strip()
    if len(text) > NAME_LENGTH:
        raise ValidationError(f"use at most {NAME_LENGTH} characters", field="name")
    return text or None


def check_renewal(renewal: date | None, closed: date) -> date:
    """The renewal date given (not before the day the deal closes), else a year on."""
    day = check_day(renewal, "renewal_date")
    if day is None:
        return one_year_after(closed)
    if day < closed:
        raise ValidationError(f"{day}: is before the deal closes ({closed})", field="renewal_date")
    return day


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February: the last day of February next year
        return day.replace(year=day.year + 1, day=28)


def required_text(value: str, field: str, message: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValidationError(message, field=field)
    return text


def opportunity_move(config: LifecycleConfig, stage: str | None) -> Move | None:
    """The move a new deal makes: to opportunity, unless the contact is one already, or a
    customer or further on the main path (an upsell or a renewal leaves them there)."""
    if stage == OPPORTUNITY or (stage is not None and config.is_backward(stage, OPPORTUNITY)):
        return None
    return check_move(config, stage, OPPORTUNITY)


def win_move(config: LifecycleConfig, stage: str | None) -> Move | None:
    """The move a won deal makes: to customer, unless the contact is a customer already or
    further on the main path (an advocate)."""
    if stage == CUSTOMER or (stage is not None and config.is_backward(stage, CUSTOMER)):
        return None
    return check_move(config, stage, CUSTOMER)
