"""``import``: a 1,000,000-row contacts CSV through ``import_contacts``, on SQLite.

The file is made here: realistic columns (half the rows with a phone), about 2% of rows
repeating an earlier person's email, and a few bad rows (rejected with ``--on-error skip``).
Our import runs in a fresh process so its peak memory is its own.

Floor: Python's csv reader and a bare ``executemany`` INSERT of the same raw rows into tables
with the same indexes as ``contacts`` and ``identities``, in the same durability mode (WAL,
synchronous=NORMAL, one transaction).

Goal: the import takes at most 60 s and at most 1 GiB of peak memory.
"""

from __future__ import annotations

import csv
import random
import sqlite3
from pathlib import Path
from typing import Any

from bench.harness import Result, machine, run_isolated, scratch, timer

ROWS = {"small": 50_000, "full": 1_000_000}
GOAL_SECONDS = 60.0
GOAL_PEAK_MB = 1024.0
HEADER = [
    "Email",
    "First Name",
    "Last Name",
    "Company",
    "Job Title",
    "Phone",
    "Country",
    "Website",
    "Industry",
    "Employees",
    "Lead Source",
    "Created Date",
]
_FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas"]
_FIRST += ["Kira", "Liam", "Maya", "Noah", "Olivia", "Paul", "Quinn", "Rosa", "Sam", "Tara"]
_LAST = ["Smith", "Müller", "Garcia", "Rossi", "Dubois", "Kowalski", "Silva", "Jensen", "Kim"]
_LAST += ["Novak", "Tanaka", "Brown", "Schmidt", "Lopez", "Martin", "Nielsen", "Costa", "Weber"]
_TITLES = ["Marketing Manager", "VP Sales", "CEO", "Software Engineer", "Head of Growth"]
_TITLES += ["Director of Operations", "Account Executive", "CTO", "Analyst", "Founder"]
_INDUSTRIES = ["Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Education"]
_SOURCES = ["Web", "Partner Referral", "Purchased List", "Phone Inquiry", "Other", "ORGANIC_SEARCH"]
_SOURCES += ["PAID_SEARCH", "EMAIL_MARKETING", "REFERRALS", "SOCIAL_MEDIA", "OFFLINE", ""]
# Country and phone format. The number's digits come from the row that first names the
# person, so every person has their own number (people who share one would be merged by
# identity resolution); a repeated person repeats their number.
_COUNTRIES = [("US", "+1 415 {:07d}"), ("Germany", "+49 30 {:08d}"), ("FR", "+33 1 {:08d}")]
_COUNTRIES += [("United Kingdom", "+44 20 7{:07d}"), ("Spain", "+34 91 {:07d}")]
_FREE = ["gmail.com", "yahoo.com", "outlook.com"]


def make_csv(path: Path, rows: int, seed: int = 7) -> int:
    """Write the benchmark file; return the number of rows meant to be rejected."""
    rng = random.Random(seed)
    companies = [f"company{i}" for i in range(max(rows // 8, 10))]
    people: list[tuple[str, str, str]] = []  # (email, phone, country) of each new person
    bad = 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            row = _row(rng, i, companies, people)
            if i % 100_000 == 99_999:
                row[0], bad = f"broken-{i}.example", bad + 1  # no @: rejected
            writer.writerow(row)
    return bad


def _row(
    rng: random.Random, i: int, companies: list[str], people: list[tuple[str, str, str]]
) -> list[str]:
    company = rng.choice(companies)
    if people and rng.random() < 0.02:
        # The same person again (same email and phone), maybe with a new title.
        email, phone, country = rng.choice(people)
    else:
        country, phone_format = rng.choice(_COUNTRIES)
        first = rng.choice(_FIRST).lower()
        domain = rng.choice(_FREE) if rng.random() < 0.15 else f"{company}.com"
        email = f"{first}.{i}@{domain}"
        phone = phone_format.format(2_000_000 + i) if rng.random() < 0.5 else ""
        people.append((email, phone, country))
    return [
        email,
        rng.choice(_FIRST),
        rng.choice(_LAST),
        company.title(),
        rng.choice(_TITLES),
        phone,
        country,
        f"https://www.{company}.com",
        rng.choice(_INDUSTRIES),
        str(rng.choice([8, 40, 120, 600, 2500, 12000])),
        rng.choice(_SOURCES),
        f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00Z",
    ]


def import_once(path: str, root: str) -> dict[str, Any]:
    """Our side, run in a fresh process: a new workspace, then the import."""
    from leadflow.contacts.imports import import_contacts
    from leadflow.settings import Settings
    from leadflow.workspace import Workspace

    settings = Settings(workspace=Path(root), database_url=None)
    with Workspace.init(Path(root), settings=settings) as ws:
        summary = import_contacts(
            ws.db,
            ws.clock,
            Path(path),
            on_error="skip",
            rejects_path=Path(root) / "rejects.csv",
            max_bytes=ws.settings.import_max_bytes,
        )
    return {
        "seconds": summary.run.seconds,
        "rows": summary.run.rows,
        "created": summary.created,
        "updated": summary.updated,
        "rejected": summary.run.rejected,
    }


def floor(path: Path, db_path: Path) -> float:
    """Seconds for csv.reader + executemany of the raw rows into contacts/identities alike."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(_FLOOR_SCHEMA)
    with timer() as took, open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        conn.execute("BEGIN")
        batch: list[list[str]] = []
        next_id = 1
        for row in reader:
            batch.append(row)
            if len(batch) == 5000:
                next_id = _floor_batch(conn, batch, next_id)
                batch = []
        _floor_batch(conn, batch, next_id)
        conn.execute("COMMIT")
    conn.close()
    return took["seconds"]


_FLOOR_SCHEMA = """
CREATE TABLE contacts (id INTEGER PRIMARY KEY, account_id INTEGER, status TEXT, email TEXT,
  phone TEXT, first_name TEXT, last_name TEXT, title TEXT, seniority TEXT, company_name TEXT,
  country TEXT, timezone TEXT, language TEXT, properties TEXT, first_touch_id INTEGER,
  last_touch_id INTEGER, last_activity_at TEXT, created_at TEXT, updated_at TEXT);
CREATE INDEX ix_contacts_account_id ON contacts (account_id);
CREATE INDEX ix_contacts_email ON contacts (email);
CREATE TABLE identities (id INTEGER PRIMARY KEY, contact_id INTEGER, kind TEXT, value TEXT,
  created_at TEXT);
CREATE UNIQUE INDEX uq_identities_kind_value ON identities (kind, value);
CREATE INDEX ix_identities_contact_id ON identities (contact_id);
"""


def _floor_batch(conn: sqlite3.Connection, batch: list[list[str]], next_id: int) -> int:
    now = "2026-01-01 00:00:00.000000"
    contacts = [
        (next_id + n, None, "active", r[0], r[5], r[1], r[2], r[4], None, r[3], r[6], "{}", now)
        for n, r in enumerate(batch)
    ]
    conn.executemany(
        "INSERT INTO contacts (id, account_id, status, email, phone, first_name, last_name, "
        "title, seniority, company_name, country, properties, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        contacts,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO identities (contact_id, kind, value, created_at) "
        "VALUES (?, 'email', ?, ?)",
        [(c[0], c[3].lower(), now) for c in contacts],
    )
    return next_id + len(batch)


def run(scale: str) -> Result:
    rows = ROWS[scale]
    with scratch("import") as work:
        path = work / "contacts.csv"
        bad = make_csv(path, rows)
        ours, peak = run_isolated(import_once, str(path), str(work / "workspace"))
        floor_seconds = floor(path, work / "floor.db")
    peak_mb = peak / 1024**2
    rate, floor_rate = rows / ours["seconds"], rows / floor_seconds
    return Result(
        name="import",
        value=rate,
        unit="rows/s",
        floor=floor_rate,
        ratio=rate / floor_rate,
        params={
            "scale": scale,
            "rows": rows,
            "rejected": ours["rejected"],
            "rejected_expected": bad,
            "created": ours["created"],
            "updated": ours["updated"],
            "seconds": round(ours["seconds"], 2),
            "floor_seconds": round(floor_seconds, 2),
            "peak_rss_mb": round(peak_mb, 1),
            "goal": f"<= {GOAL_SECONDS:.0f} s and <= {GOAL_PEAK_MB:.0f} MB at 1,000,000 rows",
            "goal_met": (ours["seconds"] <= GOAL_SECONDS and peak_mb <= GOAL_PEAK_MB)
            if scale == "full"
            else None,
            "machine": machine(),
        },
    )
