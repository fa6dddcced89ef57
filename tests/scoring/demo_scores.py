"""Scoring every contact of a demo workspace with the reference, for the ROC AUC measurement.

Run on a demo built with ``leadflow demo DIR -n 300``::

    .venv/bin/python -m tests.scoring.demo_scores DIR
"""

from __future__ import annotations

import csv
import json
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from leadflow.activity.models import activities
from leadflow.contacts.models import accounts, contacts, touches
from leadflow.rules import Snapshot
from leadflow.scoring import Score, ScoringModel, load_model, score_contact
from leadflow.storage.database import Database

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "src/leadflow/scoring/default_scoring.yaml"


def snapshots(db: Database, now: datetime) -> Iterator[Snapshot]:
    """One snapshot per active contact, read in four set-based queries."""
    with db.read() as conn:
        account_rows = {r["id"]: dict(r) for r in conn.execute(select(accounts)).mappings()}
        by_contact: dict[str, dict[int, list[dict[str, Any]]]] = {
            "touches": defaultdict(list),
            "activities": defaultdict(list),
        }
        for name, table in (("touches", touches), ("activities", activities)):
            for row in conn.execute(select(table)).mappings():
                by_contact[name][row["contact_id"]].append(dict(row))
        contact_rows = list(conn.execute(select(contacts)).mappings())
    for row in contact_rows:
        yield Snapshot(
            contact=dict(row),
            now=now,
            account=account_rows.get(row["account_id"]),
            touches=tuple(by_contact["touches"][row["id"]]),
            activities=tuple(by_contact["activities"][row["id"]]),
        )


def demo_scores(db: Database, model: ScoringModel, now: datetime) -> dict[int, Score]:
    return {s.contact["id"]: score_contact(model, s, now) for s in snapshots(db, now)}


def demo_auc(
    truth_file: Path, db: Database, model: ScoringModel, end: datetime
) -> tuple[float, int, int]:
    """ROC AUC of the total score as of ``end`` against ``converted``, with how many contacts
    converted and how many were scored; near-duplicates are left out."""
    scores = demo_scores(db, model, end)
    with truth_file.open() as handle:
        truth = [row for row in csv.DictReader(handle) if not row["duplicate_of"]]
    labels = [int(row["converted"]) for row in truth]
    totals = [scores[int(row["contact_id"])].total for row in truth]
    return float(roc_auc_score(labels, totals)), sum(labels), len(labels)


def main(folder: str) -> None:
    root = Path(folder)
    db = Database(f"sqlite:///{root / 'leadflow.db'}")
    end = datetime.fromisoformat(json.loads((root / "demo" / "demo.json").read_text())["end"])
    auc, positives, rows = demo_auc(root / "demo" / "truth.csv", db, load_model(DEFAULT_MODEL), end)
    db.dispose()
    print(f"ROC AUC {auc:.3f} over {rows} contacts ({positives} converted)")


if __name__ == "__main__":
    main(sys.argv[1])
