"""``leadflow tracking``: signed identify links for emails."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import typer

from leadflow.cli.context import state
from leadflow.contacts.queries import resolve_contact_id
from leadflow.errors import ValidationError
from leadflow.rules.times import TimeSyntaxError, parse_duration
from leadflow.tracking.engine import identify_token

app = typer.Typer(help="Website tracking: signed identify links.", no_args_is_help=True)


@app.command()
def link(
    ctx: typer.Context,
    contact: Annotated[str, typer.Argument(help="Contact id, email, phone or kind:value.")],
    url: Annotated[str, typer.Argument(help="The page the email links to (http or https).")],
    valid_for: Annotated[
        str, typer.Option(help="How long the link identifies its reader: 90d, 2w, 12h...")
    ] = "90d",
) -> None:
    """Print URL with the contact's signed identify token (lf_id): a click on it, on a page
    with the snippet, stitches the browser's anonymous history into the contact. After
    --valid-for the link still opens the page but identifies nobody."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("expected an http(s) URL", field="url")
    try:
        lifetime = parse_duration(valid_for)
    except TimeSyntaxError as exc:
        raise ValidationError(str(exc), field="valid-for") from None
    ws = state(ctx).workspace()
    with ws.db.read() as conn:
        contact_id = resolve_contact_id(conn, contact)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "lf_id"]
    token = identify_token(
        ws.settings.secret_key, contact_id, now=ws.clock.now(), lifetime=lifetime
    )
    query.append(("lf_id", token))
    typer.echo(urlunsplit(parts._replace(query=urlencode(query))))
