"""Hits reach the database through the spool (storage/spool.py) and the projector; a live
server runs the projector beside it, an in-process test app does not. Tests that look at
the database itself project first, as the API's own reads do: what a projector finds in
the spool was durable when the server acknowledged it."""

from __future__ import annotations

from sqlalchemy import Engine
from starlette.testclient import TestClient

from pegada.attribution.rules import default_rules
from pegada.ingest.projector import spool_projector
from pegada.settings import Settings


def project_spooled(client: TestClient) -> None:
    """Write everything the in-process app has spooled so far into the database."""
    client.app.state.projector.catch_up()  # type: ignore[attr-defined]


def project_spool_of(engine: Engine) -> None:
    """The same for a server process on this SQLite database (its default spool, beside
    the database file), taking turns with that server's own projector."""
    url = engine.url.render_as_string(hide_password=False)
    path = Settings(database_url=url).spool_file()
    if not path.exists():
        return
    with spool_projector(engine, path, default_rules()) as projector:
        projector.catch_up()
