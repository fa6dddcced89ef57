"""leadflow: an open-source lead and prospect management engine.

The public API of the library. ``import leadflow`` needs none of the web server's
dependencies and does no I/O. Its names are loaded on first use: a process that needs one
part of the library (an import worker preparing rows, ``leadflow --help``) does not pay
the ~0.9 s of importing all of it.
"""

from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from leadflow.activity.inputs import EventInput
    from leadflow.activity.service import RecordResult, record_event, record_events
    from leadflow.clock import Clock, FrozenClock, SystemClock
    from leadflow.contacts.inputs import CHANNELS, AccountInput, ContactInput, TouchInput
    from leadflow.contacts.queries import ContactFilter, get_contact, list_contacts
    from leadflow.contacts.service import CaptureResult, capture_contact
    from leadflow.errors import (
        ConfigError,
        Conflict,
        ContactErased,
        DatabaseLocked,
        DatabaseReadOnly,
        DatabaseUnavailable,
        InputFileError,
        LeadflowError,
        NotFound,
        SchemaOutOfDate,
        StorageError,
        ValidationError,
        WorkspaceNotFound,
    )
    from leadflow.settings import Settings
    from leadflow.storage.database import Database
    from leadflow.workspace import Workspace

__version__ = "0.1.0"

# Where each public name is defined (tests/test_public_api.py checks these against __all__).
_HOME = {
    "EventInput": "leadflow.activity.inputs",
    "RecordResult": "leadflow.activity.service",
    "record_event": "leadflow.activity.service",
    "record_events": "leadflow.activity.service",
    "Clock": "leadflow.clock",
    "FrozenClock": "leadflow.clock",
    "SystemClock": "leadflow.clock",
    "CHANNELS": "leadflow.contacts.inputs",
    "AccountInput": "leadflow.contacts.inputs",
    "ContactInput": "leadflow.contacts.inputs",
    "TouchInput": "leadflow.contacts.inputs",
    "ContactFilter": "leadflow.contacts.queries",
    "get_contact": "leadflow.contacts.queries",
    "list_contacts": "leadflow.contacts.queries",
    "CaptureResult": "leadflow.contacts.service",
    "capture_contact": "leadflow.contacts.service",
    "ConfigError": "leadflow.errors",
    "Conflict": "leadflow.errors",
    "ContactErased": "leadflow.errors",
    "DatabaseLocked": "leadflow.errors",
    "DatabaseReadOnly": "leadflow.errors",
    "DatabaseUnavailable": "leadflow.errors",
    "InputFileError": "leadflow.errors",
    "LeadflowError": "leadflow.errors",
    "NotFound": "leadflow.errors",
    "SchemaOutOfDate": "leadflow.errors",
    "StorageError": "leadflow.errors",
    "ValidationError": "leadflow.errors",
    "WorkspaceNotFound": "leadflow.errors",
    "Settings": "leadflow.settings",
    "Database": "leadflow.storage.database",
    "Workspace": "leadflow.workspace",
}

__all__ = [
    "CHANNELS",
    "AccountInput",
    "CaptureResult",
    "Clock",
    "ConfigError",
    "Conflict",
    "ContactErased",
    "ContactFilter",
    "ContactInput",
    "Database",
    "DatabaseLocked",
    "DatabaseReadOnly",
    "DatabaseUnavailable",
    "EventInput",
    "FrozenClock",
    "InputFileError",
    "LeadflowError",
    "NotFound",
    "RecordResult",
    "SchemaOutOfDate",
    "Settings",
    "StorageError",
    "SystemClock",
    "TouchInput",
    "ValidationError",
    "Workspace",
    "WorkspaceNotFound",
    "__version__",
    "capture_contact",
    "get_contact",
    "list_contacts",
    "record_event",
    "record_events",
]


def __getattr__(name: str) -> _Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'leadflow' has no attribute {name!r}")
    value = getattr(_import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
