"""pytest plugin: a real, throwaway PostgreSQL server for the tests.

Load it from tests/conftest.py with ``pytest_plugins = ["pg_fixture"]``. Fixtures:

- ``postgres_url`` (session): a SQLAlchemy URL ``postgresql+psycopg://...`` to an empty
  database on a cluster this plugin creates with ``initdb`` in a temporary folder, listening on
  a free port on 127.0.0.1 (and a unix socket in that folder) with trust authentication. The
  server is stopped and its folder deleted when the session ends.
- ``fresh_postgres_url`` (function): a new, uniquely named database on the same server for one
  test, dropped afterwards.

Set ``IVR_TEST_POSTGRES_URL`` to use an existing server instead (its user needs CREATEDB for
``fresh_postgres_url``). Without that variable the PostgreSQL server binaries must be installed
(``make system-deps`` or ``apt-get install postgresql``): a missing server fails the tests
rather than skipping them, because CI must really exercise PostgreSQL.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

ENV_URL = "IVR_TEST_POSTGRES_URL"
OS_USER = "postgres"  # initdb refuses to run as root; the cluster belongs to this user
SUPERUSER = "postgres"
DATABASE = "ivr_test"
FRESH_PREFIX = "ivr_t_"
TIMEOUT = 120
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    # A throwaway cluster: durability only costs time.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found via `pg_config --bindir`, "
    "/usr/lib/postgresql/*/bin or PATH. Install them with `make system-deps` (Debian: "
    "`apt-get install -y postgresql`), or set IVR_TEST_POSTGRES_URL to an existing server, "
    "e.g. postgresql+psycopg://user:password@127.0.0.1:5432/ivr_test."
)


class ClusterError(RuntimeError):
    """The throwaway server could not be created, started or stopped."""


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl, newest major version first."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()
            if out:
                candidates.append(Path(out))

    def major(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def sqlalchemy_url(url: str | URL) -> str:
    """The URL with the psycopg 3 driver, as the application expects it."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def admin_engine(url: str):  # type: ignore[no-untyped-def]
    """An engine for CREATE/DROP DATABASE: no pool, no transaction."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_os_user() -> pwd.struct_passwd:
    """The `postgres` OS user (the Debian package creates it; a bare machine may lack it)."""
    try:
        return pwd.getpwnam(OS_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", OS_USER],
                       capture_output=True, text=True, timeout=TIMEOUT, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = getattr(error, "stderr", "") or error
        raise ClusterError(f"could not create the OS user {OS_USER!r}: {detail}") from error
    return pwd.getpwnam(OS_USER)


def reachable_by(path: Path, owner: pwd.struct_passwd) -> bool:
    """Whether `owner` can walk down to `path` (a TMPDIR under /root would not do)."""
    for folder in [path, *path.parents]:
        info = folder.stat()
        if info.st_uid != owner.pw_uid and not info.st_mode & stat.S_IXOTH:
            return False
    return True


class Cluster:
    """One initdb'd data folder and the server running on it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.owner = ensure_os_user() if self.as_root else None
        base = Path(tempfile.gettempdir())
        # Unix socket paths are limited to ~107 bytes; the postgres user must reach the folder.
        if len(str(base)) > 60 or (self.owner and not reachable_by(base, self.owner)):
            base = Path("/tmp")
        self.root = Path(tempfile.mkdtemp(prefix="ivr-pg-", dir=base))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self.running = False
        if self.owner:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)

    def url(self, database: str) -> str:
        return URL.create("postgresql+psycopg", username=SUPERUSER, host="127.0.0.1",
                          port=self.port, database=database).render_as_string()

    def start(self) -> None:
        self._run("initdb", "--pgdata", str(self.data), "--username", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.root}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/pg_fixture.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        for _attempt in range(5):
            self.port = free_port()
            try:
                self._run("pg_ctl", "start", "--wait", "--timeout", "60", "--pgdata",
                          str(self.data), "--log", str(self.log), "-o", f"-p {self.port}")
            except ClusterError:
                if "could not bind" in self._log_tail() or "in use" in self._log_tail():
                    continue  # somebody took the port between free_port() and the bind
                raise
            self.running = True
            self.owner = os.getpid()
            atexit.register(self.stop)
            return
        raise ClusterError(f"no free port for PostgreSQL after 5 tries\n{self._log_tail()}")

    def stop(self) -> None:
        if getattr(self, "owner", os.getpid()) != os.getpid():
            return  # a forked child exiting: the cluster belongs to its parent
        if self.running:
            self.running = False
            atexit.unregister(self.stop)
            with contextlib.suppress(ClusterError):
                self._run("pg_ctl", "stop", "--wait", "--mode", "fast", "--pgdata",
                          str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", OS_USER, "--", *command]
        try:
            result = subprocess.run(command, capture_output=True, text=True, cwd=self.root,
                                    timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ClusterError(f"`{' '.join(command)}` did not run: {error}") from error
        if result.returncode != 0:
            raise ClusterError(f"`{' '.join(command)}` failed with exit code "
                               f"{result.returncode}:\n{result.stdout}{result.stderr}"
                               f"{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            tail = self.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(tail)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of an empty database on a throwaway PostgreSQL server."""
    external = os.environ.get(ENV_URL)
    if external:
        yield sqlalchemy_url(external)
        return
    bindir = find_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    cluster: Cluster | None = None
    try:
        cluster = Cluster(bindir)
        cluster.start()
        with admin_engine(cluster.url("postgres")).connect() as connection:
            connection.execute(text(f"CREATE DATABASE {quote_ident(DATABASE)}"))
    except (ClusterError, SQLAlchemyError) as error:
        if cluster:
            cluster.stop()
        pytest.fail(f"could not start a throwaway PostgreSQL server from {bindir}: {error}",
                    pytrace=False)
    try:
        yield cluster.url(DATABASE)
    finally:
        cluster.stop()


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database for one test, dropped afterwards."""
    name = FRESH_PREFIX + uuid.uuid4().hex[:16]
    engine = admin_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {quote_ident(name)}"))
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            try:  # WITH (FORCE) ends the connections pools still hold (PostgreSQL 13+)
                connection.execute(text(f"DROP DATABASE IF EXISTS {quote_ident(name)} "
                                        "WITH (FORCE)"))
            except SQLAlchemyError:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM "
                                        "pg_stat_activity WHERE datname = :name"),
                                   {"name": name})
                connection.execute(text(f"DROP DATABASE IF EXISTS {quote_ident(name)}"))
        engine.dispose()
