"""Storage: engine, transactions, migrations. Tables live in their domains' ``models.py``."""

from leadflow.storage.database import Database

__all__ = ["Database"]
