"""``export contacts``: every active contact with its identities, properties, account and
first and last touch, as CSV or JSON lines, streamed in constant memory.

The CSV columns are names ``import contacts --mapping auto`` reads back, so an export can
be imported into another workspace (or the same one, adding nothing: the touches keep their
idempotency keys). Columns named ``leadflow_*`` are bookkeeping the import ignores.

Contacts are read in pages by id (keyset pagination) inside one read transaction: a
consistent snapshot, a fixed number of statements per page, whatever the workspace's size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TextIO

from sqlalchemy import Connection, select

from leadflow.activity.queries import last_activity_at
from leadflow.contacts.mapping import ACCOUNT_FIELDS, CONTACT_FIELDS
from leadflow.contacts.models import accounts, contacts, identities, touches
from leadflow.contacts.presets import STORED_TOUCH_FIELDS, STORED_TOUCH_PARTS, TOUCH_PARTS
from leadflow.contacts.service import CONTACT_COLUMNS
from leadflow.storage.database import Database

ExportFormat = Literal["csv", "jsonl"]
PAGE = 1000
# Contact columns as the contacts table names them, but for the company (contact or account).
_CONTACT_FIELDS = tuple(c for c in CONTACT_COLUMNS if c != "company_name")
CSV_COLUMNS = (
    "leadflow_id",
    *(f for f in CONTACT_FIELDS if f not in ("other_email", "other_phone", "properties")),
    *ACCOUNT_FIELDS,
    "properties",
    *STORED_TOUCH_FIELDS,
    "leadflow_created_at",
    "leadflow_last_activity_at",
)


def export_contacts(db: Database, out: TextIO, fmt: ExportFormat = "csv") -> int:
    """Write every active contact to ``out``; return how many were written."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format must be csv or jsonl, got {fmt!r}")
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    count = 0
    for record in iter_export_records(db):
        if writer is not None:
            writer.writerow(csv_row(record))
        else:
            out.write(json.dumps(record, default=_json_default, ensure_ascii=False) + "\n")
        count += 1
    return count


def iter_export_records(db: Database) -> Iterator[dict[str, Any]]:
    """Each active contact as a nested record, in id order, a page at a time."""
    with db.read() as conn:
        after = 0
        while page := _page(conn, after):
            ids = [row["id"] for row in page]
            known = _identities(conn, ids)
            touch_ids = {r[k] for r in page for k in ("first_touch_id", "last_touch_id") if r[k]}
            found = _touches(conn, touch_ids)
            for row in page:
                yield _record(row, known.get(row["id"], []), found)
            after = ids[-1]


def _page(conn: Connection, after: int) -> list[dict[str, Any]]:
    query = (
        select(
            contacts,
            accounts.c.domain.label("account_domain"),
            accounts.c.name.label("account_name"),
            accounts.c.industry.label("account_industry"),
            accounts.c.employee_count.label("account_employee_count"),
            accounts.c.annual_revenue.label("account_annual_revenue"),
            accounts.c.country.label("account_country"),
            last_activity_at(contacts.c.id).label("last_activity_at"),
        )
        .select_from(contacts.outerjoin(accounts, accounts.c.id == contacts.c.account_id))
        .where(contacts.c.status == "active", contacts.c.id > after)
        .order_by(contacts.c.id)
        .limit(PAGE)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def _identities(conn: Connection, ids: Sequence[int]) -> dict[int, list[dict[str, str]]]:
    found: dict[int, list[dict[str, str]]] = {}
    rows = conn.execute(
        select(identities.c.contact_id, identities.c.kind, identities.c.value)
        .where(identities.c.contact_id.in_(ids))
        .order_by(identities.c.id)
    )
    for contact_id, kind, value in rows:
        found.setdefault(contact_id, []).append({"kind": kind, "value": value})
    return found


def _touches(conn: Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(select(touches).where(touches.c.id.in_(sorted(ids)))).mappings()
    return {row["id"]: dict(row) for row in rows}


def _record(
    row: Mapping[str, Any], known: list[dict[str, str]], found: Mapping[int, dict[str, Any]]
) -> dict[str, Any]:
    account = None
    if row["account_domain"] is not None or row["account_name"] is not None:
        account = {
            k: row[f"account_{k}"]
            for k in ("domain", "name", "industry", "employee_count", "annual_revenue", "country")
        }
    return {
        "id": row["id"],
        **{k: row[k] for k in _CONTACT_FIELDS},
        "company": row["company_name"] or (account or {}).get("name"),
        "account": account,
        "identities": known,
        "properties": row["properties"] or {},
        "first_touch": _touch(found.get(row["first_touch_id"] or 0)),
        "last_touch": _touch(found.get(row["last_touch_id"] or 0)),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "last_activity_at": row["last_activity_at"],
    }


def _touch(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        **{part: row[part] for part in TOUCH_PARTS},
        "occurred_at": row["occurred_at"],
        "idempotency_key": row["idempotency_key"],
    }


def csv_row(record: Mapping[str, Any]) -> list[str]:
    """A nested export record as the flat CSV row under :data:`CSV_COLUMNS` (pure)."""
    primary = {"email": (record["email"] or "").lower(), "phone": record["phone"] or ""}
    firsts: dict[str, str] = {}
    others: list[str] = []
    for identity in record["identities"]:
        kind, value = identity["kind"], identity["value"]
        if primary.get(kind) == value or (kind not in primary and kind not in firsts):
            firsts.setdefault(kind, value)
        else:
            others.append(f"{kind}:{value}")
    account = record["account"] or {}
    flat: dict[str, Any] = {
        "leadflow_id": record["id"],
        **{k: record[k] for k in _CONTACT_FIELDS if k not in ("email", "phone")},
        "email": record["email"],
        "phone": record["phone"],
        "external_id": firsts.get("external_id"),
        "anonymous_id": firsts.get("anonymous_id"),
        "other_identities": ";".join(others),
        "company": record["company"],
        "website": account.get("domain"),
        "industry": account.get("industry"),
        "employees": account.get("employee_count"),
        "annual_revenue": account.get("annual_revenue"),
        "properties": json.dumps(record["properties"], sort_keys=True, default=str)
        if record["properties"]
        else "",
        "leadflow_created_at": record["created_at"],
        "leadflow_last_activity_at": record["last_activity_at"],
    }
    for which in ("first", "last"):
        touch = record[f"{which}_touch"] or {}
        for part in STORED_TOUCH_PARTS:
            name = {"at": "occurred_at", "key": "idempotency_key"}.get(part, part)
            flat[f"{which}_touch_{part}"] = touch.get(name)
    return [_cell(flat.get(column)) for column in CSV_COLUMNS]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
