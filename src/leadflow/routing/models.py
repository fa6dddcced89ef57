"""What is stored about routing: the users routing.yaml describes, the round-robin and quota
state, tasks with their deadlines, and every notice sent."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

# Users as the active routing.yaml lists them (written when it is activated), so that tasks,
# owners and notices refer to rows.
users = Table(
    "users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320)),
    Column("role", String(16), nullable=False),  # sales | marketing | admin
    Column("team", String(64)),
    Column("capacity", Integer, nullable=False),
    Column("daily_quota", Integer),
    Column("timezone", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
)

# The assignment engine's state (round-robin weights, quota counts) by key: one row per team
# and one per user, updated under the writer's lock (SQLite) or the row's lock (PostgreSQL).
routing_state = Table(
    "routing_state",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("data", Json, nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("owner_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # first_touch | follow_up
    Column("title", String(255), nullable=False),
    Column("status", String(16), nullable=False),  # open | done | escalated | cancelled
    Column("created_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("done_at", UtcDateTime),
    Column("escalated_at", UtcDateTime),
    Column("note", Text),
    Index("ix_tasks_status_due_at", "status", "due_at"),
    Index("ix_tasks_owner_id_status", "owner_id", "status"),
    # A contact's tasks in a given status (its open first touch, when an event touches it).
    # With the contact id alone, SQLite chose the status index for `contact_id IN (...)
    # AND status = 'open'` and read every open task: 7 ms a batch at 50,000 open tasks.
    Index("ix_tasks_contact_id_status", "contact_id", "status"),
)

notices = Table(
    "notices",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # handoff | escalation | recycled
    Column("recipient", String(64)),
    Column("channel", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("data", Json, nullable=False),
    Column("status", String(8), nullable=False),  # pending | sent | failed | dead
    Column("detail", Text),
    Column("attempts", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("idempotency_key", String(128), nullable=False, unique=True),
)
