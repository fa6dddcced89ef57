"""``rescore``: every contact's score recomputed set-based from the activity log, on SQLite.

Full scale: 1,000,000 contacts (50,000 accounts) and 20,000,000 activities over the last
120 days, scored with the default model (``leadflow/scoring/default_scoring.yaml``).
Small scale: a twentieth of both.

The data is not recorded through ``record_events`` (hours at this size): a workspace is
made with ``Workspace.init``, then contacts, accounts and activities are bulk-inserted with
a bare ``sqlite3`` ``executemany`` in the library's stored formats (naive UTC text times,
JSON text), with the activities' secondary indexes dropped during the load and made again
after it. Before the timed run, every contact is scored once under a slightly different
model (``site_visit`` worth 2 instead of 1), so the timed run is what a marketer's model
change costs: 1,000,000 stored scores replaced.

Generation takes about ten minutes at full scale (the loading; the prior rescore takes under
a minute since decision 20), so
the finished workspace is kept under
``bench/.work/rescore-cache/SCALE-SEED-gGENERATOR-sSCHEMA/`` (SCHEMA: a hash of the library's
migrations; delete the folder to make it again). Each run copies it into a fresh scratch
folder, so the timed part always starts from the same state.

Timed: ``leadflow.scoring.service.rescore`` in a fresh process (its peak RSS is its own).

Floor: the same decayed sums computed by a bare DuckDB query over the same activities
exported to Parquet in the same run (the export is not timed): per (contact, engagement
rule), the rule's type filter and ``where:`` property filter, the per-day and total caps by
window functions (``row_number()`` in id order, as the library counts them), and
``points * 2^((t - now) / half_life)`` summed, into a table. The same query without caps is
timed too (``floor_no_caps_seconds``). A sample of contacts is compared between the
library's stored state and the floor's table, so the floor is known to compute the same sums.

Goal (issue 3): at most 30 s and at most 4 GB peak memory. ``ratio`` is the floor's seconds
over the library's (higher is better).

Needs ``duckdb`` for the floor: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import SCRATCH, Result, machine, run_isolated, scratch, timer
from leadflow.clock import FrozenClock
from leadflow.rules.ast import Op, Predicate, Scope
from leadflow.scoring.decay import EPOCH
from leadflow.scoring.model import EngagementRule, ScoringModel
from leadflow.scoring.parse import SCORING_FILE, parse_model
from leadflow.settings import Settings
from leadflow.workspace import DATABASE_FILE, Workspace

SCALES = {"small": (50_000, 1_000_000), "full": (1_000_000, 20_000_000)}  # contacts, events
SEED = 20261123
GENERATOR_VERSION = 1  # bump when the generated data changes, so caches are made again
CACHE = SCRATCH / "rescore-cache"
GOAL_SECONDS = 30.0
GOAL_PEAK_MB = 4096.0
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)  # the timed rescore's clock
PRIOR_AT = NOW - timedelta(minutes=10)  # the prior model's rescore
DAYS = 120  # activities span the DAYS before NOW, the last one an hour before it
CONTACTS_PER_ACCOUNT = 20
CHUNK = 1_000_000  # activities generated and inserted per step
SAMPLE = 2_000  # contacts compared between the library and the floor
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "src/leadflow/scoring/default_scoring.yaml"

# (type, weight, source): a B2B marketing site, its emails and a CRM. The types the default
# model scores, and others it does not (email_delivered, email_opened, meeting, call...).
EVENT_MIX = (
    ("page_view", 40, "web"),
    ("email_delivered", 14, "email"),
    ("email_opened", 12, "email"),
    ("email_clicked", 6, "email"),
    ("pricing_page_view", 5, "web"),
    ("form_submit", 4, "web"),
    ("content_download", 4, "web"),
    ("webinar_registered", 2, "web"),
    ("webinar_attended", 2, "zoom"),
    ("email_replied", 2, "email"),
    ("email_bounced", 1, "email"),
    ("meeting", 1, "crm"),
    ("demo_requested", 1, "web"),
    ("trial_started", 1, "app"),
    ("call", 1, "crm"),
    ("unsubscribe", 1, "email"),
    ("deal_won", 0.2, "crm"),
    ("chat_started", 2.8, "web"),
)
FORMS = ("contact-us", "free-trial", "newsletter", "webinar-signup", "ebook")
PAGES = ("/", "/pricing", "/product", "/blog/lead-scoring", "/customers", "/docs", "/about")
ASSETS = ("ebook-b2b-funnel", "whitepaper-scoring", "checklist-mql", "report-2026-benchmarks")
INDUSTRIES = (
    "Software",
    "Financial Services",
    "Marketing & Advertising",
    "Professional Services",
    "Telecommunications",
    "Media",
    "Manufacturing",
    "Logistics",
    "Education",
    "Healthcare",
    "Retail",
    "Government",
    None,
)
COUNTRIES = ("US", "GB", "DE", "FR", "NL", "CA", "AU", "IN", "BR", "JP", "ES", "IT", None)
# (title, seniority)
TITLES = (
    ("CEO", "c_level"),
    ("CMO", "c_level"),
    ("VP Marketing", "vp"),
    ("VP Sales", "vp"),
    ("Director of Demand Gen", "director"),
    ("Sales Director", "director"),
    ("Marketing Manager", "manager"),
    ("RevOps Manager", "manager"),
    ("Head of Growth", "director"),
    ("Account Executive", "individual"),
    ("Software Engineer", "individual"),
    ("Product Manager", "manager"),
    ("Analyst", "individual"),
    ("Student", None),
    ("MBA Candidate", None),
    ("Marketing Intern", None),
    (None, None),
)
FREE_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com")


def run(scale: str) -> Result:
    _check_floor_modules()
    n_contacts, n_events = SCALES[scale]
    cached, generation_seconds = _cached_workspace(scale, n_contacts, n_events)
    with scratch("rescore") as root:
        workspace = root / "workspace"
        with timer() as copying:
            shutil.copytree(cached, workspace)
        ours, peak = run_isolated(rescore_once, str(workspace))
        with timer() as exporting:
            exported = export_parquet(workspace / DATABASE_FILE, root / "activities.parquet")
        floor, floor_peak = run_isolated(
            floor_once, str(root / "activities.parquet"), str(root / "floor.duckdb")
        )
        check = compare(workspace / DATABASE_FILE, root / "floor.duckdb", SAMPLE)
    peak_mb = peak / 1024**2
    seconds = ours["seconds"]
    met_time, met_memory = seconds <= GOAL_SECONDS, peak_mb <= GOAL_PEAK_MB
    return Result(
        name="rescore",
        value=round(seconds, 2),
        unit="s",
        floor=round(floor["seconds"], 2),
        ratio=round(floor["seconds"] / seconds, 4),
        params={
            "scale": scale,
            "database": "sqlite",
            "contacts": n_contacts,
            "events": n_events,
            "scored": ours["contacts"],
            "grade_changes": ours["grade_changes"],
            "model": "default_scoring.yaml (prior scores from the same with site_visit 2)",
            "peak_mb": round(peak_mb),
            "floor": "DuckDB over Parquet: type and where: filters, per-day and total caps by "
            "row_number() windows in id order, decayed sums per (contact, rule) into a table",
            "floor_rows": floor["rows"],
            "floor_peak_mb": round(floor_peak / 1024**2),
            "floor_no_caps_seconds": round(floor["no_caps_seconds"], 2),
            "floor_threads": floor["threads"],
            "agreement": check,
            "parquet_rows": exported,
            "export_seconds": round(exporting["seconds"], 1),
            "copy_seconds": round(copying["seconds"], 1),
            "generation_seconds": generation_seconds,
            "goal": f"<= {GOAL_SECONDS:.0f} s and <= {GOAL_PEAK_MB:.0f} MB peak",
            # The goal is for the full scale; a small run only checks the bench.
            "met": (met_time and met_memory) if scale == "full" else None,
            "met_time": met_time if scale == "full" else None,
            "met_memory": met_memory if scale == "full" else None,
            "machine": machine(),
            "date": datetime.now(UTC).isoformat(timespec="minutes"),
        },
    )


def _check_floor_modules() -> None:
    try:
        import duckdb  # noqa: F401
        import numpy  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise SystemExit(
            f"the rescore benchmark needs duckdb, pyarrow and numpy ({exc}); "
            "install them with: pip install -e '.[bench]'"
        ) from exc


# -- the timed part (in a fresh process) ----------------------------------------------------


def rescore_once(workspace_path: str) -> dict[str, Any]:
    from leadflow.scoring.service import rescore

    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    workspace = Workspace.open(Path(workspace_path), clock=FrozenClock(NOW))
    try:
        with timer() as took:
            result = rescore(workspace.db, workspace.clock, text, filename=SCORING_FILE)
    finally:
        workspace.close()
    return {
        "seconds": took["seconds"],
        "contacts": result.contacts,
        "grade_changes": result.grade_changes,
    }


# -- the data (made once per scale and seed, then kept) --------------------------------------


def _cached_workspace(scale: str, n_contacts: int, n_events: int) -> tuple[Path, float | str]:
    """The generated workspace folder, made now if it is not kept yet; and how long making
    it took (or "cached")."""
    final = CACHE / f"{scale}-{SEED}-g{GENERATOR_VERSION}-s{_schema_version()}"
    if (final / "workspace" / DATABASE_FILE).exists():
        return final / "workspace", "cached"
    building = CACHE / f"{final.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    with timer() as took:
        generate(building / "workspace", n_contacts, n_events, SEED)
    shutil.rmtree(final, ignore_errors=True)
    building.rename(final)
    return final / "workspace", round(took["seconds"], 1)


def _schema_version() -> str:
    """A hash of the library's migrations: a cache made under another schema is not used."""
    import hashlib

    import leadflow.storage

    digest = hashlib.sha256()
    versions = Path(leadflow.storage.__file__).parent / "migrations" / "versions"
    for path in sorted(versions.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def generate(path: Path, n_contacts: int, n_events: int, seed: int) -> None:
    """A workspace with the contacts, accounts and activities, every contact scored under
    the prior model."""
    workspace = Workspace.init(
        path,
        settings=Settings(env="development", workspace=path),
        clock=FrozenClock(NOW - timedelta(days=DAYS + 1)),
    )
    workspace.close()
    conn = sqlite3.connect(path / DATABASE_FILE, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -1048576")
        rng = random.Random(seed)
        n_accounts = max(1, n_contacts // CONTACTS_PER_ACCOUNT)
        conn.execute("BEGIN")
        conn.executemany(_insert_sql("accounts", ACCOUNT_COLUMNS), _accounts(n_accounts, rng))
        conn.executemany(
            _insert_sql("contacts", CONTACT_COLUMNS), _contacts(n_contacts, n_accounts, rng)
        )
        conn.execute("COMMIT")
        indexes = _drop_indexes(conn, "activities")
        for rows in _activity_chunks(n_contacts, n_events, seed):
            conn.execute("BEGIN")
            conn.executemany(_insert_sql("activities", ACTIVITY_COLUMNS), rows)
            conn.execute("COMMIT")
        for statement in indexes:
            conn.execute(statement)
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    _score_with_prior_model(path)


def _score_with_prior_model(path: Path) -> None:
    from leadflow.scoring.service import rescore

    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    prior = text.replace(
        "activity: {type: page_view}\n    points: 1\n",
        "activity: {type: page_view}\n    points: 2\n",
    )
    if prior == text:
        raise RuntimeError("the default model changed: cannot make the prior model from it")
    workspace = Workspace.open(path, clock=FrozenClock(PRIOR_AT))
    try:
        rescore(workspace.db, workspace.clock, prior, filename="prior_scoring.yaml")
    finally:
        workspace.close()


ACCOUNT_COLUMNS = (
    "id",
    "domain",
    "name",
    "industry",
    "employee_count",
    "annual_revenue",
    "country",
    "properties",
    "created_at",
    "updated_at",
)
CONTACT_COLUMNS = (
    "id",
    "account_id",
    "status",
    "email",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "company_name",
    "country",
    "properties",
    "created_at",
    "updated_at",
)
ACTIVITY_COLUMNS = (
    "id",
    "contact_id",
    "type",
    "occurred_at",
    "recorded_at",
    "source",
    "properties",
    "idempotency_key",
)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _stored(at: datetime) -> str:
    """A time as the library stores it on SQLite: naive UTC text with microseconds."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _accounts(n: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    created = _stored(NOW - timedelta(days=400))
    for i in range(1, n + 1):
        employees = int(math.exp(rng.uniform(0, math.log(20_000)))) if rng.random() < 0.85 else None
        yield (
            i,
            f"company{i}.example",
            f"Company {i}",
            rng.choice(INDUSTRIES),
            employees,
            employees * 150_000.0 if employees else None,
            rng.choice(COUNTRIES),
            "{}",
            created,
            created,
        )


def _contacts(n: int, n_accounts: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    created = _stored(NOW - timedelta(days=365))
    budgets = ("under_10k", "10k_50k", "over_50k")
    for i in range(1, n + 1):
        draw = rng.random()
        account: int | None = None
        if draw < 0.15:
            domain = rng.choice(FREE_DOMAINS)
        elif draw < 0.17:
            domain = "state.edu"
        elif draw < 0.175:
            domain = "hubspot.com"
        else:
            account = rng.randrange(1, n_accounts + 1)
            domain = f"company{account}.example"
        title, seniority = rng.choice(TITLES)
        properties = json.dumps({"budget": rng.choice(budgets)}) if rng.random() < 0.1 else "{}"
        yield (
            i,
            account,
            "active",
            f"person{i}@{domain}",
            "Alex",
            f"Person{i}",
            title,
            seniority,
            f"Company {account}" if account else None,
            rng.choice(COUNTRIES),
            properties,
            created,
            created,
        )


def _properties_pool(kind: str, rng: random.Random) -> list[str]:
    """A few dozen distinct property documents per type, as tracking sends them."""
    out = []
    for _ in range(64):
        if kind.startswith("email_"):
            value: dict[str, Any] = {
                "campaign": f"nurture-{rng.randrange(40)}",
                "message_id": rng.randrange(10**6),
            }
        elif kind in ("page_view", "pricing_page_view"):
            value = {"url": rng.choice(PAGES), "seconds": rng.randrange(1, 600)}
        elif kind == "content_download":
            value = {"asset": rng.choice(ASSETS)}
        elif kind == "form_submit":
            value = {"form": rng.choice(FORMS), "page": rng.choice(PAGES)}
        else:
            value = {}
        out.append(json.dumps(value))
    return out


def _activity_chunks(n_contacts: int, n_events: int, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """Activities in id order, dated in (roughly) the order they were recorded over the last
    DAYS days; 1% arrive late (dated up to a week before). 30% of them come from the most
    active 5% of contacts."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prng = random.Random(seed)
    types = [t for t, _, _ in EVENT_MIX]
    weights = np.array([w for _, w, _ in EVENT_MIX], dtype=float)
    sources = [s for _, _, s in EVENT_MIX]
    pools = [_properties_pool(t, prng) for t in types]
    hot = max(1, n_contacts // 20)
    end_us = int((NOW - timedelta(hours=1)).timestamp() * 1_000_000)
    start_us = end_us - DAYS * 86_400 * 1_000_000
    step = (end_us - start_us) / n_events
    for start in range(0, n_events, CHUNK):
        n = min(CHUNK, n_events - start)
        ids = np.arange(start + 1, start + n + 1, dtype=np.int64)
        contact = np.where(
            rng.random(n) < 0.3,
            rng.integers(1, hot + 1, n),
            rng.integers(1, n_contacts + 1, n),
        )
        kind = rng.choice(len(types), n, p=weights / weights.sum())
        at = start_us + ((ids - 1) * step).astype(np.int64) - rng.integers(0, 600_000_000, n)
        late = rng.random(n) < 0.01
        at = np.where(late, at - rng.integers(0, 7 * 86_400_000_000, n), at)
        occurred = np.datetime_as_string(at.astype("datetime64[us]"), unit="us")
        recorded = np.datetime_as_string(
            np.maximum(at + 2_000_000, start_us + (ids - 1) * step).astype("datetime64[us]"),
            unit="us",
        )
        variant = rng.integers(0, 64, n)
        yield [
            (
                i,
                c,
                types[k],
                o[:10] + " " + o[11:],
                r[:10] + " " + r[11:],
                sources[k],
                pools[k][v],
                f"bench-{i:010d}",
            )
            for i, c, k, o, r, v in zip(
                ids.tolist(),
                contact.tolist(),
                kind.tolist(),
                occurred.tolist(),
                recorded.tolist(),
                variant.tolist(),
                strict=True,
            )
        ]


def _drop_indexes(conn: sqlite3.Connection, table: str) -> list[str]:
    """Drop ``table``'s named indexes (not the ones of its UNIQUE constraints); return their
    DDL to make them again."""
    found = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    for name, _ in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


# -- the floor -----------------------------------------------------------------------------


def export_parquet(database: Path, target: Path) -> int:
    """The activities as the floor reads them: id, contact, type, time, properties (JSON
    text). Not timed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("contact_id", pa.int64()),
            ("type", pa.string()),
            ("occurred_at", pa.timestamp("us")),
            ("properties", pa.string()),
        ]
    )
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    rows = 0
    try:
        cursor = conn.execute(
            "SELECT id, contact_id, type, occurred_at, properties FROM activities ORDER BY id"
        )
        with pq.ParquetWriter(target, schema) as writer:
            while chunk := cursor.fetchmany(500_000):
                ids, contacts, types, times, props = zip(*chunk, strict=True)
                when = pa.array(times, pa.string()).cast(pa.timestamp("us"))
                writer.write_table(
                    pa.table(
                        [
                            pa.array(ids, pa.int64()),
                            pa.array(contacts, pa.int64()),
                            pa.array(types, pa.string()),
                            when,
                            pa.array(props, pa.string()),
                        ],
                        schema=schema,
                    )
                )
                rows += len(chunk)
    finally:
        conn.close()
    return rows


@dataclass(frozen=True)
class _RuleSql:
    name: str
    filter: str
    points: float
    per_day: int | None
    total: int | None
    half_life: float | None  # seconds


def floor_sql(model: ScoringModel, parquet: str, now: datetime) -> tuple[str, str]:
    """The floor's query with caps, and the same without caps (both CREATE TABLE)."""
    rules = [_rule_sql(model, rule) for rule in model.engagement_rules]
    now_us = int(now.timestamp() * 1_000_000)
    stamp = now.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    matched = "\nUNION ALL\n".join(
        f"SELECT contact_id, id, occurred_at, {i} AS rule FROM a WHERE {r.filter}"
        for i, r in enumerate(rules)
    )
    params = ", ".join(
        f"({i}, {r.points!r}, {r.per_day or 'NULL'}, {r.total or 'NULL'}, "
        f"{repr(r.half_life) if r.half_life else 'NULL'})"
        for i, r in enumerate(rules)
    )
    head = f"""
WITH a AS (
  SELECT id, contact_id, type, occurred_at, properties FROM read_parquet('{parquet}')
  WHERE occurred_at <= TIMESTAMP '{stamp}'
),
p(rule, points, per_day, total, half_life) AS (VALUES {params}),
m AS ({matched})"""
    value = (
        "sum(CASE WHEN p.half_life IS NULL THEN p.points ELSE p.points * "
        f"pow(2.0, (epoch_us(s.occurred_at) - {now_us}) / 1e6 / p.half_life) END)"
    )
    capped = f"""CREATE TABLE sums AS {head},
d AS (
  SELECT m.*, row_number() OVER (
    PARTITION BY rule, contact_id, CAST(occurred_at AS DATE) ORDER BY id) AS nd
  FROM m
),
t AS (
  SELECT d.*, row_number() OVER (PARTITION BY d.rule, d.contact_id ORDER BY d.id) AS nt
  FROM d JOIN p USING (rule)
  WHERE p.per_day IS NULL OR d.nd <= p.per_day
),
s AS (SELECT t.* FROM t JOIN p USING (rule) WHERE p.total IS NULL OR t.nt <= p.total)
SELECT s.contact_id, s.rule, count(*) AS n, max(s.occurred_at) AS latest, {value} AS value
FROM s JOIN p USING (rule) GROUP BY s.contact_id, s.rule"""
    uncapped = f"""CREATE TABLE sums_no_caps AS {head}
SELECT s.contact_id, s.rule, count(*) AS n, max(s.occurred_at) AS latest, {value} AS value
FROM m AS s JOIN p USING (rule) GROUP BY s.contact_id, s.rule"""
    return capped, uncapped


def _rule_sql(model: ScoringModel, rule: EngagementRule) -> _RuleSql:
    condition = rule.activity
    if condition.window != type(condition.window)():
        raise NotImplementedError(f"rule {rule.name}: the floor does not do windows")
    clauses = []
    if condition.types:
        clauses.append(f"type IN ({', '.join(_quote(t) for t in condition.types)})")
    if condition.where is not None:
        clauses.append(_where_sql(rule.name, condition.where))
    half_life = model.group(rule.group).half_life
    return _RuleSql(
        name=rule.name,
        filter=" AND ".join(clauses) or "TRUE",
        points=rule.points,
        per_day=rule.cap.per_day,
        total=rule.cap.total,
        half_life=half_life.total_seconds() if half_life is not None else None,
    )


def _where_sql(name: str, where: Any) -> str:
    """The default model's kind of ``where:``: a text property in or equal to values."""
    ok = (
        isinstance(where, Predicate)
        and where.field.scope is Scope.ACTIVITY
        and where.field.key is not None
        and where.op in (Op.IN, Op.EQ)
    )
    if not ok:
        raise NotImplementedError(f"rule {name}: the floor does only property in/eq filters")
    values = where.operand if isinstance(where.operand, tuple) else (where.operand,)
    text = f"json_extract_string(properties, '$.{where.field.key}')"
    return f"lower({text}) IN ({', '.join(_quote(str(v).lower()) for v in values)})"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def floor_once(parquet: str, database: str) -> dict[str, Any]:
    """The floor's query, timed, in a fresh process; its result kept in ``database``."""
    import os

    import duckdb

    model = parse_model(DEFAULT_MODEL.read_text(encoding="utf-8"), filename=str(DEFAULT_MODEL))
    capped, uncapped = floor_sql(model, parquet, NOW)
    conn = duckdb.connect(database)
    try:
        conn.execute("SET enable_progress_bar = false")
        threads = conn.execute("SELECT current_setting('threads')").fetchone()
        with timer() as took:
            conn.execute(capped)
        with timer() as took_no_caps:
            conn.execute(uncapped)
        row = conn.execute("SELECT count(*) FROM sums").fetchone()
    finally:
        conn.close()
    return {
        "seconds": took["seconds"],
        "no_caps_seconds": took_no_caps["seconds"],
        "rows": int(row[0]) if row else 0,
        "threads": threads[0] if threads else os.cpu_count(),
    }


def compare(database: Path, floor_db: Path, sample: int) -> str:
    """The library's stored engagement state against the floor's sums, on a sample of
    contacts: occurrences equal, values (decayed to NOW) within 1e-9 relative."""
    import duckdb

    model = parse_model(DEFAULT_MODEL.read_text(encoding="utf-8"), filename=str(DEFAULT_MODEL))
    names = [r.name for r in model.engagement_rules]
    half_lives = {r.name: model.group(r.group).half_life for r in model.engagement_rules}
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        n = conn.execute("SELECT max(contact_id) FROM contact_scores").fetchone()[0]
        ids = sorted(random.Random(SEED).sample(range(1, n + 1), min(sample, n)))
        marks = ",".join("?" * len(ids))
        stored = conn.execute(
            f"SELECT contact_id, state FROM contact_scores WHERE contact_id IN ({marks})", ids
        ).fetchall()
    finally:
        conn.close()
    ours: dict[tuple[int, str], tuple[int, float]] = {}
    for contact_id, text in stored:
        for name, (value, ref, total, _days) in json.loads(text)["rules"].items():
            if total:
                elapsed = NOW - (EPOCH + timedelta(microseconds=ref))
                half_life = half_lives[name]
                factor = 1.0 if half_life is None else 2.0 ** (-(elapsed / half_life))
                ours[(contact_id, name)] = (int(total), float(value) * factor)
    floor_conn = duckdb.connect(str(floor_db), read_only=True)
    try:
        rows = floor_conn.execute(
            f"SELECT contact_id, rule, n, value FROM sums WHERE contact_id IN "
            f"({','.join(map(str, ids))})"
        ).fetchall()
    finally:
        floor_conn.close()
    theirs = {(c, names[r]): (int(n), float(v)) for c, r, n, v in rows}
    worst = 0.0
    differ = 0
    for key in ours.keys() | theirs.keys():
        a, b = ours.get(key), theirs.get(key)
        if a is None or b is None or a[0] != b[0]:
            differ += 1
            continue
        worst = max(worst, abs(a[1] - b[1]) / max(1.0, abs(b[1])))
    return (
        f"{len(ids)} contacts, {len(theirs)} (contact, rule) sums: "
        f"{differ} differ in count or presence, max relative difference {worst:.1e}"
    )
