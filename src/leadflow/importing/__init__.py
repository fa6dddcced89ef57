"""What every file import shares: located reading of CSV and JSON lines, rejects, the loop.

Domain importers (:mod:`leadflow.contacts.imports`, :mod:`leadflow.activity.import_service`)
bring a pure ``prepare`` step and a storage ``write`` step; this package does the rest.
"""
