"""API keys: made with a role, shown once, stored as a SHA-256 only, listed without the
secret, revoked; the CLI's `leadflow keys ...`."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadflow.access.models import api_keys
from leadflow.access.service import KeyVerifier, create_key, find_principal, revoke_key
from leadflow.cli.app import app
from leadflow.errors import Conflict, NotFound, ValidationError
from leadflow.routing.service import load_routing
from tests.routing.files import ROUTING

runner = CliRunner()


def test_only_the_hash_of_a_key_is_stored(db, clock):
    created = create_key(db, clock, name="site", role="marketing")

    with db.read() as conn:
        row = conn.execute(select(api_keys)).mappings().one()
    assert created.plaintext.startswith(f"lf_{row['prefix']}_")
    assert row["secret_hash"] == hashlib.sha256(created.plaintext.encode()).hexdigest()
    assert created.plaintext not in json.dumps({k: str(v) for k, v in row.items()})


def test_a_key_verifies_until_it_is_revoked(db, clock):
    created = create_key(db, clock, name="site", role="admin")

    principal = find_principal(db, created.plaintext)
    revoke_key(db, clock, prefix=created.key.prefix)

    assert principal is not None
    assert (principal.role, principal.prefix) == ("admin", created.key.prefix)
    assert find_principal(db, created.plaintext) is None
    assert find_principal(db, created.plaintext[:-1] + "x") is None
    with pytest.raises(Conflict):
        revoke_key(db, clock, prefix=created.key.prefix)
    with pytest.raises(NotFound):
        revoke_key(db, clock, prefix="nope")


def test_the_verifier_forgets_a_revoked_key_after_its_ttl(db, clock):
    created = create_key(db, clock, name="site", role="admin")
    verifier = KeyVerifier(db, clock)
    assert verifier.verify(created.plaintext) is not None

    revoke_key(db, clock, prefix=created.key.prefix)

    assert verifier.verify(created.plaintext) is not None  # cached, at most 5 s
    clock.advance(timedelta(seconds=5))
    assert verifier.verify(created.plaintext) is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"role": "root", "name": "x"}, "role"),
        ({"role": "sales", "name": "x"}, "user"),
        ({"role": "admin", "name": "  "}, "name"),
    ],
)
def test_bad_keys_are_refused_naming_the_field(db, clock, fields, field):
    with pytest.raises(ValidationError) as caught:
        create_key(db, clock, **fields)

    assert caught.value.field == field


def test_a_sales_key_needs_a_user_that_exists(db, clock):
    with pytest.raises(NotFound):
        create_key(db, clock, name="x", role="sales", user_id="ana")
    load_routing(db, clock, ROUTING)

    created = create_key(db, clock, name="x", role="sales", user_id="ana")

    assert find_principal(db, created.plaintext).user_id == "ana"


def test_cli_create_list_and_revoke(cli_env):
    made = runner.invoke(app, ["keys", "create", "--role", "admin", "--name", "ops"], env=cli_env)
    key = made.stdout.strip()
    prefix = key.split("_")[1]

    listed = runner.invoke(app, ["keys", "list", "--format", "json"], env=cli_env)
    revoked = runner.invoke(app, ["keys", "revoke", prefix], env=cli_env)
    again = runner.invoke(app, ["keys", "revoke", prefix], env=cli_env)

    assert made.exit_code == 0, made.output
    assert "only time" in made.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["prefix"], row["name"], row["role"], row["revoked_at"]) == (
        prefix,
        "ops",
        "admin",
        None,
    )
    assert key not in listed.stdout
    assert revoked.exit_code == 0
    assert again.exit_code == 1
    assert "already revoked" in again.stderr


def test_cli_refuses_a_sales_key_without_a_known_user(cli_env):
    result = runner.invoke(
        app, ["keys", "create", "--role", "sales", "--name", "x", "--user", "ghost"], env=cli_env
    )

    assert result.exit_code == 1
    assert "ghost" in result.stderr
