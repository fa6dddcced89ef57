"""The leadflow exception tree.

Every error carries a stable ``code`` that adapters (CLI, API) show and that callers may
match on; the message is for people and may change.

    LeadflowError
    ├── ConfigError                 settings or workspace configuration is invalid
    │   ├── LocatedConfigError      ... at a file:line (conditions, scoring files)
    │   └── ConfigProblems          every problem found in one workspace file, together
    ├── WorkspaceNotFound           no workspace where one was expected
    ├── ValidationError             a value is not acceptable (names the field)
    │   └── InputFileError          a problem in an input file (names file, row, column)
    ├── NotFound                    a contact, account or other record does not exist
    ├── Conflict                    the request contradicts stored state (e.g. merge into itself)
    ├── ContactErased               a write names an erased contact (its anonymous tombstone)
    ├── Unauthorized                no credentials, or credentials that are not (or no longer) valid
    ├── Forbidden                   valid credentials whose role may not do this
    ├── PayloadTooLarge             a request body or batch above its limit
    ├── UnsupportedMediaType        a request body in a content type the endpoint does not read
    ├── RateLimited                 too many requests from one caller in a window
    └── StorageError                the database could not do what was asked
        ├── DatabaseLocked          another process holds the write lock for too long
        ├── DatabaseReadOnly        the database file or its folder cannot be written
        ├── DatabaseUnavailable     the server cannot be reached
        └── SchemaOutOfDate         migrations are pending
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LeadflowError(Exception):
    """Base of every error leadflow raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled whole, whatever the subclass's constructor takes: the API's event writer
        # process sends the errors it meets back to the server process (``api/writer.py``).
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(cls: type[LeadflowError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigError(LeadflowError):
    code = "config_invalid"


class LocatedConfigError(ConfigError):
    """A configuration problem at a place (``file:line`` or a path), with a stable code."""

    def __init__(self, code: str, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.code = code
        self.where = where
        self.reason = message


class ConfigProblems(ConfigError):
    """Every problem found in one workspace file: its loader reads on after the first, so
    the team fixes them in one go. Each file's loader has its own subclass and code."""

    def __init__(self, problems: Sequence[ConfigError]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = tuple(problems)


class WorkspaceNotFound(LeadflowError):
    code = "workspace_not_found"


class ValidationError(LeadflowError):
    """A value is not acceptable; ``field`` names it when there is one."""

    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.reason = message


class InputFileError(ValidationError):
    """A problem in an input file, located as precisely as we can."""

    code = "input_file_invalid"

    def __init__(
        self,
        message: str,
        *,
        path: str,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = path
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        LeadflowError.__init__(self, f"{where}: {message}")
        self.field = column
        self.reason = message
        self.path = path
        self.row = row
        self.column = column


class NotFound(LeadflowError):
    code = "not_found"


class Conflict(LeadflowError):
    code = "conflict"


class ContactErased(LeadflowError):
    """A write (an event, a stage move, a deal, a merge...) names a contact whose person was
    erased: its row is an anonymous tombstone that takes no new data. Naming the person by
    email or phone again makes a new contact. In a batch, ``index`` is the event's position
    and ``field`` its path (``events[3].contact_id``)."""

    code = "contact_erased"

    def __init__(self, contact_id: int, *, index: int | None = None) -> None:
        where = "" if index is None else f"events[{index}]: "
        super().__init__(
            f"{where}contact {contact_id} was erased and takes no new data; "
            "name the person by email or phone to make a new contact"
        )
        self.contact_id = contact_id
        self.index = index
        self.field = None if index is None else f"events[{index}].contact_id"


class Unauthorized(LeadflowError):
    code = "unauthorized"


class Forbidden(LeadflowError):
    code = "forbidden"


class PayloadTooLarge(LeadflowError):
    code = "payload_too_large"


class UnsupportedMediaType(LeadflowError):
    code = "unsupported_media_type"


class RateLimited(LeadflowError):
    code = "rate_limited"


class StorageError(LeadflowError):
    code = "storage_error"


class DatabaseLocked(StorageError):
    code = "database_locked"


class DatabaseReadOnly(StorageError):
    code = "database_read_only"


class DatabaseUnavailable(StorageError):
    code = "database_unavailable"


class SchemaOutOfDate(StorageError):
    code = "schema_out_of_date"
