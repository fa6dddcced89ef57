"""Every leadflow error survives pickling whole (the API's event writer process sends the
errors it meets back to the server process, which answers with their status and fields)."""

from __future__ import annotations

import importlib
import pickle
import pkgutil
from typing import get_type_hints

import pytest

import leadflow
from leadflow import errors
from leadflow.capture.guard import RateLimitExceeded
from leadflow.webhooks.engine import SignatureError


def _all_error_classes() -> list[type[errors.LeadflowError]]:
    """Every subclass in the package (its modules imported first: no I/O at import time)."""
    for module in pkgutil.walk_packages(leadflow.__path__, "leadflow."):
        if not module.name.endswith(".__main__"):  # that one runs the CLI
            importlib.import_module(module.name)
    found, todo = [], [errors.LeadflowError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


SPECIAL = {
    errors.LocatedConfigError: lambda: errors.LocatedConfigError("bad_rule", "rules.yaml:3", "no"),
    errors.ValidationError: lambda: errors.ValidationError("must be lowercase", field="type"),
    errors.InputFileError: lambda: errors.InputFileError("bad", path="a.csv", row=3, column="x"),
    errors.ContactErased: lambda: errors.ContactErased(7, index=2),
    errors.ConfigProblems: lambda: errors.ConfigProblems([errors.ConfigError("one")]),
    RateLimitExceeded: lambda: RateLimitExceeded("slow down", retry_after=30),
    SignatureError: lambda: SignatureError("signature_expired", "too old"),
}


def _made(cls: type[errors.LeadflowError]) -> errors.LeadflowError:
    """An instance: from a message, or (a located configuration error of some file kind)
    from the first of its problems, a place and a message."""
    if issubclass(cls, errors.LocatedConfigError):
        problem = next(iter(get_type_hints(cls.__init__)["problem"]))
        return cls(problem, "file.yaml:3", "something is wrong")  # type: ignore[call-arg]
    return cls("something is wrong")


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.__name__)
def test_an_error_pickles_with_its_type_message_and_fields(cls):
    make = SPECIAL.get(cls)
    error = make() if make is not None else _made(cls)

    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.code == error.code
    assert copy.args == error.args
    assert {k: v for k, v in vars(copy).items() if k != "problems"} == {
        k: v for k, v in vars(error).items() if k != "problems"
    }
