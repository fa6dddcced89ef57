"""The default model on the demo: its scores separate the contacts who bought from the others."""

from __future__ import annotations

import csv

import pytest
from sklearn.metrics import roc_auc_score

from leadflow.demo.engine import generate
from leadflow.demo.service import TRUTH_FILE, load_demo
from leadflow.scoring import load_model
from leadflow.scoring.service import current_score
from leadflow.workspace import Workspace
from tests.conftest import START
from tests.scoring.demo_scores import DEFAULT_MODEL, demo_auc, demo_scores

# Measured 0.79 on `leadflow demo -n 3000` and 0.76-0.82 on this size over seeds 1-5;
# seed 3 gives 0.80. The bound leaves room for the noise of ~60 converters.
AUC_BOUND = 0.75


def test_the_default_model_separates_the_demo_converters(workspace: Workspace):
    data = generate(end=START, contacts=600, days=90, seed=3)
    load_demo(workspace.db, data, folder=workspace.root)

    auc, converted, scored = demo_auc(
        workspace.root / TRUTH_FILE, workspace.db, load_model(DEFAULT_MODEL), START
    )

    assert converted >= 20
    assert scored >= 550
    assert auc > AUC_BOUND


def test_every_demo_contact_gets_a_grade(workspace: Workspace):
    load_demo(
        workspace.db, generate(end=START, contacts=80, days=30, seed=2), folder=workspace.root
    )

    scores = demo_scores(workspace.db, load_model(DEFAULT_MODEL), START)

    assert len(scores) >= 70
    assert {s.grade[0] for s in scores.values()} <= set("ABCD")
    assert len({s.grade for s in scores.values()}) > 3


def test_the_stored_scores_are_the_reference_and_separate_the_converters(workspace: Workspace):
    # The demo records its events through the library, so each contact's stored score was
    # kept up to date event by event; read as of the end, it is the reference score.
    data = generate(end=START, contacts=300, days=60, seed=4)
    load_demo(workspace.db, data, folder=workspace.root)
    with (workspace.root / TRUTH_FILE).open() as handle:
        truth = [row for row in csv.DictReader(handle) if not row["duplicate_of"]]
    reference = demo_scores(workspace.db, load_model(DEFAULT_MODEL), START)

    stored = {
        int(row["contact_id"]): current_score(workspace.db, int(row["contact_id"]), now=START).score
        for row in truth
    }

    for contact_id, score in stored.items():
        assert score.total == pytest.approx(reference[contact_id].total, abs=1e-9)
    labels = [int(row["converted"]) for row in truth]
    auc = roc_auc_score(labels, [stored[int(row["contact_id"])].total for row in truth])
    assert sum(labels) >= 10
    assert auc > AUC_BOUND
