"""Lead scoring: fit and engagement points from the workspace's ``scoring.yaml``.

Pure parts only: :mod:`~leadflow.scoring.parse` reads the model file,
:mod:`~leadflow.scoring.engine` scores a contact from a full snapshot (the reference) or event
by event (the incremental path), and :mod:`~leadflow.scoring.decay` holds the O(1) decayed
sums. The file format is in ``docs/scoring.md``.
"""

from leadflow.scoring.engine import (
    ContactState,
    Contribution,
    GroupScore,
    Score,
    read_score,
    record_event,
    score_contact,
    score_stream,
)
from leadflow.scoring.model import ScoringError, ScoringModel, ScoringModelError
from leadflow.scoring.parse import SCORING_FILE, load_model, parse_model

__all__ = [
    "SCORING_FILE",
    "ContactState",
    "Contribution",
    "GroupScore",
    "Score",
    "ScoringError",
    "ScoringModel",
    "ScoringModelError",
    "load_model",
    "parse_model",
    "read_score",
    "record_event",
    "score_contact",
    "score_stream",
]
