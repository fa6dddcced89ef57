"""Score storage: the model versions loaded, each contact's current score, and its history."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, String, Table, Text

from leadflow.storage.metadata import Id, Json, UtcDateTime, metadata

# Every scoring file that was loaded; the one marked active scores new events. (A flag, not
# the latest activated_at: clocks of several processes need not agree.)
scoring_models = Table(
    "scoring_models",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("version", String(12), nullable=False, unique=True),  # a hash of the text
    Column("source", Text, nullable=False),  # the file's text, so any version can be re-read
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("activated_at", UtcDateTime),
    Column("active", Boolean, nullable=False, default=False),
)

# One row per scored contact: the score as of ``as_of`` and the state that updates it.
# Narrow on purpose: the ingest path rewrites a row of every contact in each event batch.
contact_scores = Table(
    "contact_scores",
    metadata,
    Column("contact_id", Id, ForeignKey("contacts.id"), primary_key=True, autoincrement=False),
    Column("model_version", String(12), nullable=False),
    Column("fit", Float, nullable=False),
    Column("engagement", Float, nullable=False),  # as of as_of; it fades after
    Column("total", Float, nullable=False),
    Column("grade", String(2), nullable=False),
    Column("as_of", UtcDateTime, nullable=False),
    # The fit rules that hold and each engagement rule's running sum: scoring.state.
    Column("state", Json, nullable=False),
)

# Every grade change and threshold crossing, for plots and for later triggers.
score_history = Table(
    "score_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", Id, ForeignKey("contacts.id"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # grade | threshold
    Column("name", String(64)),  # the threshold's name
    Column("before", String(16)),  # grade, or below/above for a threshold
    Column("after", String(16)),
    Column("total", Float, nullable=False),
    Column("model_version", String(12), nullable=False),
    Column("cause", String(16), nullable=False),  # event | rescore | contact | merge
    Column("activity_id", Id),  # the event that caused it, when one did
    Index("ix_score_history_contact_id_at", "contact_id", "at"),
    Index("ix_score_history_kind_at", "kind", "at"),
)
