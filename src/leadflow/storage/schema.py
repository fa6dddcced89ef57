"""Collects every domain's tables into the shared MetaData (for migrations and tests)."""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

from leadflow.storage.metadata import metadata

# Each domain that stores something lists its models module here.
DOMAIN_MODELS = (
    "leadflow.contacts.models",
    "leadflow.activity.models",
    "leadflow.scoring.models",
    "leadflow.lifecycle.models",
    "leadflow.routing.models",
    "leadflow.access.models",
    "leadflow.webhooks.models",
    "leadflow.privacy.models",
)


def all_tables() -> MetaData:
    for module in DOMAIN_MODELS:
        importlib.import_module(module)
    return metadata
