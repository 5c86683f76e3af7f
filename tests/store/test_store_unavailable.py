"""A store that cannot be opened raises StoreUnavailableError with one clear line, never a driver's traceback;
a SQLite file deleted or replaced under an open Store is noticed by ``Store.check_file``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykatib.store import Store, StoreError
from pykatib.store.errors import StoreFileChangedError, StoreUnavailableError

SPEC = {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": "exp"}}


def open_error(url: str, **options: bool) -> str:
    with pytest.raises(StoreUnavailableError) as caught:
        Store(url, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert isinstance(caught.value, StoreError)  # what the CLI catches
    return message


def test_an_unreachable_server_names_the_url_without_its_password() -> None:
    message = open_error("postgresql+psycopg://postgres:s3cret@127.0.0.1:1/x")
    assert message.startswith("cannot connect to the store postgresql+psycopg://postgres:***@127.0.0.1:1/x: ")
    assert "s3cret" not in message
    assert "check that the database server is running" in message


def test_a_directory_is_not_a_database_file(tmp_path: Path) -> None:
    message = open_error(f"sqlite:///{tmp_path}")
    assert f"{tmp_path} is a directory, not a database file" in message
    assert f"e.g. sqlite:///{tmp_path / 'pykatib.db'}" in message


def test_an_unknown_dialect() -> None:
    message = open_error("foo://x")
    assert message.startswith("cannot open the store foo://x: unknown database kind or driver 'foo'; expected e.g.")


def test_a_driver_that_is_not_installed() -> None:
    pytest.importorskip("psycopg")
    if _importable("asyncpg"):
        pytest.skip("asyncpg is installed")
    message = open_error("postgresql+asyncpg://u:pw@127.0.0.1:1/x")
    assert "the driver for postgresql+asyncpg is not installed" in message
    assert "pip install 'pykatib[postgres]'" in message
    assert ":pw@" not in message


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "random.db"
    path.write_bytes(os.urandom(8192))
    message = open_error(f"sqlite:///{path}")
    assert "the file is not a SQLite database or is damaged (file is not a database)" in message
    assert path.read_bytes() != b""  # left as it was


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("not a url", "not a url"),
        ("postgresql+psycopg://u:pw@host:notaport/x", "postgresql+psycopg://u:***@host:notaport/x"),
    ],
)
def test_a_malformed_url(url: str, shown: str) -> None:
    message = open_error(url)
    assert message.startswith(f"not a database URL: {shown} (")
    assert "expected e.g. sqlite:///" in message


def test_a_missing_directory_is_refused_unless_the_store_may_create_it(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "dir" / "x.db"
    message = open_error(f"sqlite:///{path}", create_folder=False)
    assert message.endswith(f"the directory {path.parent} does not exist; create it first, or fix the path")
    assert not (tmp_path / "missing").exists()
    # The default (a workdir's own store) creates it, as before.
    Store(f"sqlite:///{path}").close()
    assert path.is_file()


def test_a_path_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    message = open_error(f"sqlite:///{tmp_path / 'plain' / 'x.db'}")
    assert f"{tmp_path / 'plain'} is not a directory" in message


# check_file


def test_check_file_passes_while_the_file_is_untouched(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'pykatib.db'}") as store:
        store.create_experiment("exp", "default", SPEC)
        store.check_file()
        store.check_file()


def test_check_file_raises_when_the_file_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "pykatib.db"
    with Store(f"sqlite:///{path}") as store:
        store.create_experiment("exp", "default", SPEC)
        path.unlink()
        with pytest.raises(StoreFileChangedError) as caught:
            store.check_file()
    assert str(caught.value) == (
        f"the store's file {path} was deleted while pykatib was using it, so nothing more can be saved to it; "
        "put the original file back and continue with --resume, or start the experiment again"
    )


def test_check_file_raises_when_another_file_takes_its_path(tmp_path: Path) -> None:
    path = tmp_path / "pykatib.db"
    other = tmp_path / "other.db"
    with Store(f"sqlite:///{other}"):
        pass
    with Store(f"sqlite:///{path}") as store:
        os.replace(other, path)  # e.g. a backup restored, or another run's database copied over it
        with pytest.raises(StoreFileChangedError, match="was replaced by another file while pykatib was using it"):
            store.check_file()


def test_check_file_follows_a_relative_path_from_where_the_store_was_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    with Store("sqlite:///state/pykatib.db") as store:
        monkeypatch.chdir(tmp_path / "elsewhere")
        store.check_file()  # the same file, though "state/pykatib.db" means another path from here
        (tmp_path / "state" / "pykatib.db").unlink()
        with pytest.raises(StoreFileChangedError, match=str(tmp_path / "state" / "pykatib.db")):
            store.check_file()


def test_check_file_is_a_noop_without_a_file(store: Store) -> None:
    # Every backend of the fixture; on SQLite the file is there, on the servers there is no file to check.
    store.check_file()
    with Store("sqlite:///:memory:") as memory, Store("sqlite://") as memory_too:
        memory.check_file()
        memory_too.check_file()


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True
