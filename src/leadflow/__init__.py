"""leadflow: an open-source lead and prospect management engine.

The public API of the library. ``import leadflow`` needs none of the web server's
dependencies and does no I/O.
"""

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
