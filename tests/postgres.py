"""A throwaway PostgreSQL server for the test session, and per-test databases on it.

``PostgresServer`` runs ``initdb`` and ``pg_ctl`` from the newest PostgreSQL found on this machine, in a
temporary directory, on a free port of 127.0.0.1, with durability switched off (the data is thrown away).
PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` OS user (or ``nobody``).

``T2_TEST_POSTGRES_URL`` names an existing server to use instead; every test gets its own database there
(``create_database``/``drop_database``), so the tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL, make_url

__all__ = [
    "ENV_URL",
    "PostgresBinaries",
    "PostgresError",
    "PostgresServer",
    "create_database",
    "drop_database",
    "find_binaries",
    "normalise_url",
    "wait_until_ready",
]

ENV_URL = "T2_TEST_POSTGRES_URL"
"""Use the PostgreSQL server at this URL instead of starting one."""

SEARCH_PATTERNS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # PGDG RPMs
    "/usr/local/pgsql/bin",  # built from source
    "/opt/homebrew/opt/postgresql*/bin",  # Homebrew on Apple silicon
    "/usr/local/opt/postgresql*/bin",  # Homebrew on Intel
)

ADMIN_TIMEOUT = 30.0
INITDB_TIMEOUT = 180.0
START_TIMEOUT = 60
STOP_TIMEOUT = 30

T = TypeVar("T")


class PostgresError(RuntimeError):
    """The test PostgreSQL server could not be found, started or reached; the message says why."""


@dataclass(frozen=True, slots=True)
class PostgresBinaries:
    """The server programs of one PostgreSQL installation."""

    initdb: Path
    pg_ctl: Path

    @property
    def version(self) -> str:
        """``initdb --version``, e.g. ``initdb (PostgreSQL) 15.8``."""
        result = subprocess.run([str(self.initdb), "--version"], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() or result.stderr.strip()


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", path))


def find_binaries() -> PostgresBinaries | None:
    """``initdb`` and ``pg_ctl`` from PATH, else from the newest well-known installation folder, else None."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return PostgresBinaries(Path(initdb), Path(pg_ctl))
    folders = [folder for pattern in SEARCH_PATTERNS for folder in glob.glob(pattern)]
    for folder in sorted(folders, key=_version_key, reverse=True):
        initdb_path, pg_ctl_path = Path(folder, "initdb"), Path(folder, "pg_ctl")
        if os.access(initdb_path, os.X_OK) and os.access(pg_ctl_path, os.X_OK):
            return PostgresBinaries(initdb_path, pg_ctl_path)
    return None


def searched_locations() -> str:
    """Where ``find_binaries`` looks, for error messages."""
    return "initdb and pg_ctl on PATH, or in " + ", ".join(SEARCH_PATTERNS)


def normalise_url(raw: str) -> str:
    """The URL with the asyncpg driver (``postgres://`` and ``postgresql://`` are accepted)."""
    url = make_url(raw)
    if url.drivername.split("+")[0] not in ("postgres", "postgresql"):
        raise PostgresError(f"{ENV_URL} must be a PostgreSQL URL, not {url.drivername!r}")
    return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _asyncpg_dsn(url: str | URL) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on its own event loop in a worker thread.

    Fixtures call this while pytest-asyncio may have a loop running (or set as current) in the main thread;
    a private thread keeps the two loops apart.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="t2-postgres-admin") as pool:
        return pool.submit(asyncio.run, coroutine).result(timeout=ADMIN_TIMEOUT * 3)


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=ADMIN_TIMEOUT, command_timeout=ADMIN_TIMEOUT)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def wait_until_ready(url: str, timeout: float = ADMIN_TIMEOUT) -> None:
    """Return once ``url`` accepts connections; raise PostgresError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _run_coroutine(_execute(url, "SELECT 1"))
            return
        except (OSError, asyncpg.PostgresError) as exc:  # TimeoutError is an OSError
            if time.monotonic() > deadline:
                shown = make_url(url).render_as_string(hide_password=True)
                raise PostgresError(f"cannot connect to PostgreSQL at {shown}: {type(exc).__name__}: {exc}") from exc
            time.sleep(0.2)


def create_database(server_url: str) -> str:
    """Create an empty database ``t2_<uuid>`` on the server of ``server_url``; return its URL."""
    name = f"t2_{uuid.uuid4().hex}"
    _run_coroutine(_execute(server_url, f'CREATE DATABASE "{name}"'))
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop the database of ``database_url``, disconnecting whoever is still connected to it."""
    name = make_url(database_url).database
    if not name or name == make_url(server_url).database:
        raise PostgresError(f"refusing to drop {name!r}: not a per-test database")

    async def drop() -> None:
        try:
            await _execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except asyncpg.PostgresSyntaxError:  # PostgreSQL before 13 has no WITH (FORCE)
            await _execute(
                server_url,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                f'DROP DATABASE IF EXISTS "{name}"',
            )

    _run_coroutine(drop())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The OS user to run the server as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise PostgresError("running as root, and neither a 'postgres' nor a 'nobody' OS user exists to run PostgreSQL as")


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no server log: {exc.strerror})"
    return text if len(text) <= limit else "...\n" + text[-limit:]


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only."""

    def __init__(self, binaries: PostgresBinaries, database: str = "t2test") -> None:
        self.binaries = binaries
        self.database = database
        self.account = _server_account()
        self.port: int | None = None
        self.base: Path | None = None
        self._stopped = False

    @property
    def url(self) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT/<database>``."""
        if self.port is None:
            raise PostgresError("the server is not started")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    @property
    def log_path(self) -> Path:
        assert self.base is not None
        return self.base / "server.log"

    @property
    def data_dir(self) -> Path:
        assert self.base is not None
        return self.base / "data"

    def _run(self, arguments: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        """Run a server program as the server's OS user; PG* variables of ours must not steer it."""
        environment = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        environment["LC_ALL"] = "C"
        options: dict[str, Any] = {}
        if self.account is not None:
            environment["HOME"] = str(self.base)
            environment["USER"] = environment["LOGNAME"] = self.account.pw_name
            options = {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}
        return subprocess.run(
            arguments,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environment,
            cwd=self.base,
            stdin=subprocess.DEVNULL,
            check=False,
            **options,
        )

    def _fail(self, what: str, result: subprocess.CompletedProcess[str] | None = None) -> PostgresError:
        parts = [f"PostgreSQL test server: {what} ({self.binaries.pg_ctl.parent})"]
        if result is not None:
            parts.append(f"exit status {result.returncode}\n{result.stdout.strip()}\n{result.stderr.strip()}".rstrip())
        if self.base is not None:
            parts.append(f"--- server log {self.log_path} ---\n{_tail(self.log_path)}")
        return PostgresError("\n".join(parts))

    def start(self) -> str:
        """initdb, start, create the database; return its URL. Stops and cleans up when any step fails."""
        parent = tempfile.gettempdir()
        if self.account is not None and not os.stat(parent).st_mode & 0o001:
            parent = "/tmp"  # the server's user must be able to reach its directory
        self.base = Path(tempfile.mkdtemp(prefix="t2-pg-", dir=parent))
        if self.account is not None:
            os.chown(self.base, self.account.pw_uid, self.account.pw_gid)
        atexit.register(self.stop)
        try:
            self._initdb()
            self._start_server()
            maintenance = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            wait_until_ready(maintenance)
            _run_coroutine(_execute(maintenance, f'CREATE DATABASE "{self.database}"'))
        except BaseException:
            self.stop()  # the error message already carries the server log
            raise
        return self.url

    def _initdb(self) -> None:
        arguments = [str(self.binaries.initdb), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres"]
        arguments += ["--no-sync", "-E", "UTF8", "--no-locale"]
        try:
            result = self._run(arguments, INITDB_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise self._fail(f"initdb did not finish within {INITDB_TIMEOUT:.0f} s") from exc
        if result.returncode != 0:
            raise self._fail("initdb failed", result)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the server at once (as a crash would: connections are cut), wait ``down_s``, start it on the same
        port."""
        arguments = [str(self.binaries.pg_ctl), "-D", str(self.data_dir), "-m", "immediate", "-w"]
        result = self._run([*arguments, "-t", str(STOP_TIMEOUT), "stop"], STOP_TIMEOUT + 15)
        if result.returncode != 0:
            raise self._fail("pg_ctl stop failed", result)
        time.sleep(down_s)
        self._start_server(port=self.port)
        wait_until_ready(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")

    def _start_server(self, port: int | None = None) -> None:
        assert self.base is not None
        socket_dir = self.base / "socket"
        socket_dir.mkdir(exist_ok=True)
        if self.account is not None:
            os.chown(socket_dir, self.account.pw_uid, self.account.pw_gid)
        fixed = port
        for attempt in range(3):
            port = fixed or _free_port()
            options = (
                f"-F -c listen_addresses=127.0.0.1 -p {port} -k {shlex.quote(str(socket_dir))}"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            arguments = [str(self.binaries.pg_ctl), "-D", str(self.data_dir), "-l", str(self.log_path)]
            arguments += ["-w", "-t", str(START_TIMEOUT), "-o", options, "start"]
            try:
                result = self._run(arguments, START_TIMEOUT + 30)
            except subprocess.TimeoutExpired as exc:
                raise self._fail(f"pg_ctl start did not return within {START_TIMEOUT + 30} s") from exc
            if result.returncode == 0:
                self.port = port
                return
            if "already in use" in _tail(self.log_path) and attempt < 2 and fixed is None:
                continue  # another process took the port between probing and binding: try another
            raise self._fail(f"pg_ctl start failed on port {port}", result)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Stop the server (immediate mode: the data is thrown away) and delete its directory."""
        if self._stopped or self.base is None:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        pid = self._postmaster_pid()
        if pid is not None:
            arguments = [str(self.binaries.pg_ctl), "-D", str(self.data_dir), "-m", "immediate", "-w"]
            arguments += ["-t", str(STOP_TIMEOUT), "stop"]
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self._run(arguments, STOP_TIMEOUT + 15)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, 0)  # still there after pg_ctl stop: kill the postmaster we started
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.base, ignore_errors=True)
