"""The `pegada` command as an operator runs it: a real subprocess on the test database.

Admin commands print JSON with `--json`; a mistake is exit status 1 with one clear line on
stderr and never a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SEED_HOST_CLIENT, SEED_TOKEN
from tests.servers import PEGADA, pegada_env


def pegada(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PEGADA, *args],
        env=pegada_env(database_url, **env),
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def ok_json(database_url: str, *args: str) -> Any:
    done = pegada(database_url, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


Case = tuple[list[str], dict[str, str], list[str]]
#: A database password used in the cases below; no message may ever show it.
SECRET = "s3cret"


def assert_clean_failures(database_url: str, cases: list[Case]) -> None:
    """Each command (args, extra env, texts its message must contain) exits 1 with one
    "Error: …" line on stderr, nothing on stdout, no traceback. They are independent, so
    they run side by side."""
    processes = [
        subprocess.Popen(
            [PEGADA, *args],
            env=pegada_env(database_url, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for args, env, _ in cases
    ]
    for process, (args, env, expected) in zip(processes, cases, strict=True):
        stdout, stderr = process.communicate(timeout=60)
        case = (args, env, stderr)
        assert process.returncode == 1, case
        assert stdout == "" and "Traceback" not in stderr, case
        assert stderr.startswith("Error: ") and stderr.count("\n") == 1, case
        assert all(text in stderr for text in expected), case
        assert SECRET not in stderr, case


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file that does not exist yet: the CLI creates and migrates it itself."""
    return f"sqlite:///{tmp_path / 'cli' / 'pegada.db'}"


def test_tenant_channel_and_event_type_admin(db_url: str) -> None:
    created = ok_json(db_url, "tenant", "create", "Faculdade Exemplo")
    assert set(created) == {"hostClient", "name", "timezone"}
    assert re.fullmatch(r"[A-Za-z0-9]{20}", created["hostClient"])
    assert created["name"] == "Faculdade Exemplo"
    assert created["timezone"] == "America/Sao_Paulo"

    kept = ok_json(db_url, "tenant", "create", "Migrada", "--host-client", SEED_HOST_CLIENT)
    assert kept["hostClient"] == SEED_HOST_CLIENT
    listed = ok_json(db_url, "tenant", "list")
    assert sorted(listed, key=lambda t: t["name"]) == [created, kept]

    first = ok_json(db_url, "channel", "create", SEED_HOST_CLIENT, "Site")
    assert first["origem"] == 1 and first["name"] == "Site"
    assert re.fullmatch(r"[0-9a-f]{32}", first["token"])
    given = ok_json(
        db_url, "channel", "create", SEED_HOST_CLIENT, "CRM", "--origem", "3", "--token", SEED_TOKEN
    )
    assert given == {"origem": 3, "token": SEED_TOKEN, "name": "CRM"}
    after_gap = ok_json(db_url, "channel", "create", SEED_HOST_CLIENT, "Landing")
    assert after_gap["origem"] == 4
    assert len({first["token"], after_gap["token"], SEED_TOKEN}) == 3
    channels = ok_json(db_url, "channel", "list", SEED_HOST_CLIENT)
    assert sorted(channels, key=lambda c: c["origem"]) == [first, given, after_gap]
    # Channels and event types belong to their tenant.
    assert ok_json(db_url, "channel", "list", created["hostClient"]) == []

    inscricao = ok_json(
        db_url,
        "event-type",
        "create",
        SEED_HOST_CLIENT,
        "Inscrição no curso",
        "--id",
        "29",
        "--codigo",
        "inscricao",
    )
    assert inscricao == {
        "id": 29,
        "titulo": "Inscrição no curso",
        "codigo": "inscricao",
        "fluxo": 0,
        "formaCriacaoOportunidade": None,
    }
    following = ok_json(db_url, "event-type", "create", SEED_HOST_CLIENT, "Matrícula")
    assert (following["id"], following["codigo"]) == (30, None)

    # Duplicates: exit 1 and a sentence saying what already exists.
    host = SEED_HOST_CLIENT
    assert_clean_failures(
        db_url,
        [
            (["tenant", "create", "Outra", "--host-client", host], {}, [host, "already exists"]),
            (["channel", "create", host, "X", "--origem", "3"], {}, ["origem", "already exists"]),
            (["channel", "create", host, "X", "--token", SEED_TOKEN], {}, ["token"]),
            (["event-type", "create", host, "X", "--id", "29"], {}, ["29", "already exists"]),
            (["event-type", "create", host, "X", "--codigo", "inscricao"], {}, ["inscricao"]),
        ],
    )
    # Nothing half-created by the failures.
    assert ok_json(db_url, "event-type", "list", SEED_HOST_CLIENT) == [inscricao, following]
    assert len(ok_json(db_url, "channel", "list", SEED_HOST_CLIENT)) == 3


def test_new_database_and_human_output(sqlite_url: str) -> None:
    done = pegada(sqlite_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("database at the latest schema")
    assert Path(sqlite_url.removeprefix("sqlite:///")).is_file()
    done = pegada(sqlite_url, "tenant", "create", "Escola", "--host-client", SEED_HOST_CLIENT)
    assert (done.returncode, done.stdout) == (0, f"{SEED_HOST_CLIENT}\n")
    done = pegada(sqlite_url, "channel", "create", SEED_HOST_CLIENT, "Site", "--token", SEED_TOKEN)
    assert (done.returncode, done.stdout) == (0, f"origem 1  token {SEED_TOKEN}\n")
    done = pegada(sqlite_url, "tenant", "list")
    assert (done.returncode, done.stdout) == (0, f"{SEED_HOST_CLIENT}  Escola\n")


def test_operator_mistakes_fail_cleanly(sqlite_url: str, tmp_path: Path) -> None:
    """Each is exit 1 and one line naming what is wrong (run side by side: independent)."""
    ok_json(sqlite_url, "tenant", "create", "Escola", "--host-client", SEED_HOST_CLIENT)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    cases: list[Case] = [
        (["tenant", "create", "Escola", "--host-client", "short"], {}, ["hostClient"]),
        (["tenant", "create", "   "], {}, ["name"]),
        (["channel", "list", "NoSuchTenant00000000"], {}, ["NoSuchTenant00000000"]),
        (["channel", "create", SEED_HOST_CLIENT, "Site", "--token", "XYZ"], {}, ["token"]),
        (["channel", "create", SEED_HOST_CLIENT, "Site", "--origem", "0"], {}, ["origem"]),
        (["tenant", "list"], {"PEGADA_DB_POOL_SIZE": "ten"}, ["PEGADA_DB_POOL_SIZE", "'ten'"]),
        (["migrate"], {"PEGADA_AUTO_MIGRATE": "perhaps"}, ["PEGADA_AUTO_MIGRATE"]),
        (["migrate"], {"PEGADA_MAX_BODY_BYTES": "-1"}, ["PEGADA_MAX_BODY_BYTES"]),
        (["tenant", "list"], {"PEGADA_DATABASE_URL": "nonsense"}, ["PEGADA_DATABASE_URL"]),
        (["migrate"], {"PEGADA_DATABASE_URL": "mysql://u@h/db"}, ["PEGADA_DATABASE_URL"]),
        # A server that does not answer; the password must not be printed.
        (
            ["migrate"],
            {"PEGADA_DATABASE_URL": f"postgresql://pegada:{SECRET}@127.0.0.1:1/pegada"},
            ["pegada:***@127.0.0.1:1", "refused"],
        ),
        (
            ["tenant", "list"],
            {"PEGADA_DATABASE_URL": f"sqlite:///{blocker}/sub/pegada.db"},
            [str(blocker)],
        ),
    ]
    assert_clean_failures(sqlite_url, cases)
    # None of the mistakes changed anything.
    assert ok_json(sqlite_url, "channel", "list", SEED_HOST_CLIENT) == []


def test_version() -> None:
    done = subprocess.run([PEGADA, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", done.stdout)
