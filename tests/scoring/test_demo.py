"""The default model on the demo: its scores separate the contacts who bought from the others."""

from __future__ import annotations

from leadflow.demo.engine import generate
from leadflow.demo.service import TRUTH_FILE, load_demo
from leadflow.scoring import load_model
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
