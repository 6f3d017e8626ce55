"""A real PostgreSQL server for the database tests: initdb in a temp dir, postgres on a free port of 127.0.0.1.

DESIGN §1: database code is verified "against a real PostgreSQL server started by the tests". Debian's
`postgresql` package provides the binaries (`make test` installs it when `initdb` is missing); the tests never
skip: a machine without it fails with the command that fixes it. initdb refuses to run as root, so as root the
server runs as the package's `postgres` user, in a temp dir it owns.

Host connections use scram-sha-256 password authentication, as Neon does, so a role's password and its
`VALID UNTIL` are enforced for real. One server per test process (pytest-xdist worker), started on first use
and stopped when the session ends; import the `postgres_server` fixture into the test module that needs it.
"""

from __future__ import annotations

import ctypes
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from gates.database_checks import RoleCredentials
from model.database_privileges import APPLICATION_SCHEMA, roles

INSTALL_HINT = "run `make test` (it installs Debian's postgresql package when initdb is missing) or, as root, `apt-get update && apt-get install -y postgresql`"
SUPERUSER = "postgres"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STALE_AFTER_SECONDS = 600


def postgres_bindir() -> Path | None:
    """Where initdb and postgres are: `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin, else
    wherever the initdb on PATH lives (the Makefile's `postgresql` target looks in the same places)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "postgres")):
            return directory
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running server. `superuser_password` stays inside the tests; nothing prints it."""

    bindir: Path
    root: Path
    port: int
    superuser_password: str = field(repr=False)
    host: str = "127.0.0.1"
    _run_as: dict = field(default_factory=dict, repr=False)
    _process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def connect(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None, **kwargs):
        """A connection over TCP with password authentication (the superuser's unless another is given)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user,
            password=self.superuser_password if password is None else password,
            connect_timeout=10,
            autocommit=True,
            **kwargs,
        )

    def recreate_database(self, name: str) -> None:
        """An empty database of that name (any previous one dropped, sessions and all)."""
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def ensure_database(self, name: str) -> None:
        """The database, created once per server (creating one takes ~0.3 s; tests reset roles instead)."""
        with self.connect() as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_roles(self, *names: str) -> None:
        """Drop roles (cluster-wide) after dropping what they own in every database."""
        with self.connect() as conn:
            existing = {
                r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(names)])
            }
            databases = [d for (d,) in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")]
        if not existing:
            return
        for database in databases:
            with self.connect(database) as conn:
                for name in existing:
                    conn.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(name)))
        with self.connect() as conn:
            for name in existing:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # fast shutdown: end sessions, stop
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _run_as() -> tuple[dict, int | None, int | None]:
    """Root cannot run initdb: run the server as the package's `postgres` user."""
    if os.geteuid() != 0:
        return {}, None, None
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.fail(f"running as root and there is no `postgres` user to run the test server as: {INSTALL_HINT}")
    return {"user": account.pw_uid, "group": account.pw_gid}, account.pw_uid, account.pw_gid


def start_server() -> PostgresServer:
    bindir = postgres_bindir()
    if bindir is None:
        pytest.fail(f"PostgreSQL is not installed (no initdb found): {INSTALL_HINT}")
    run_as, uid, gid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="bank-pg-"))
    password = secrets.token_urlsafe(24)
    pwfile = root / "superuser-password"
    pwfile.write_text(password + "\n")
    if uid is not None:
        os.chown(root, uid, gid)
        os.chown(pwfile, uid, gid)
    os.chmod(pwfile, 0o600)
    init = subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(root / "data"),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **run_as,
    )
    pwfile.unlink()
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed:\n{init.stderr[-2000:]}")
    last_error = ""
    for _attempt in range(3):
        server = PostgresServer(bindir=bindir, root=root, port=free_port(), superuser_password=password, _run_as=run_as)
        log = root / "server.log"
        with open(log, "ab") as output:
            # The postmaster itself, as this process's child (not daemonized by pg_ctl): it gets SIGQUIT (immediate
            # shutdown) if the test process dies, so a killed test run leaves no server behind.
            server._process = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(root / "data"),
                    "-p",
                    str(server.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    f"unix_socket_directories={root}",
                    # A throwaway cluster: durability off, so the tests stay fast on CI's two cores.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=40",
                    "-c",
                    "shared_buffers=16MB",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
                **run_as,
            )
        try:
            _wait_ready(server)
            return server
        except psycopg.OperationalError:
            server._process.kill()
            server._process.wait()
            last_error = log.read_text(errors="replace")[-2000:]
    shutil.rmtree(root, ignore_errors=True)
    pytest.fail(f"PostgreSQL did not start:\n{last_error}")


def _die_with_parent() -> None:
    """In the child, after it has taken the postgres user's identity (which would clear it): PR_SET_PDEATHSIG."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGQUIT)


def sweep_stale_servers() -> None:
    """Remove the directories of servers whose test process was killed (their postmaster is gone with it)."""
    for root in Path(tempfile.gettempdir()).glob("bank-pg-*"):
        pid_file = root / "data" / "postmaster.pid"
        try:
            if time.time() - root.stat().st_mtime < STALE_AFTER_SECONDS:
                continue  # maybe another test process, still starting its server
            pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        except (OSError, ValueError, IndexError):
            continue
        if pid is not None and Path(f"/proc/{pid}").exists():
            continue  # running: another test process's server
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with server.connect() as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline or server._process.poll() is not None:
                raise
            time.sleep(0.1)


def grant_privilege_model(server: PostgresServer, database: str) -> dict[str, RoleCredentials]:
    """`database` with its three roles created afresh and granted as the privilege model (model/database_privileges)
    says, plus an existing table and sequence made by the migration role (as Flyway would); returns each role's
    credentials (service and reporting marked as the pooled endpoint, as MOD-103 stores them)."""
    model = roles(database)
    server.ensure_database(database)
    # Dropping the roles drops what they own (schema `app` and its tables) and every privilege and default
    # privilege granted to them: each test starts from nothing.
    server.drop_roles(*(r.name for r in model))
    passwords = {r.kind: f"pw-{r.kind}-{os.urandom(6).hex()}" for r in model}
    schema = sql.Identifier(APPLICATION_SCHEMA)
    by_kind = {r.kind: r for r in model}
    owner = sql.Identifier(by_kind["migration"].name)
    with server.connect() as conn:
        for r in model:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(r.name), sql.Literal(passwords[r.kind])
                )
            )
    with server.connect(database) as conn:
        # As MOD-103 does: PUBLIC keeps nothing on the database or schema `public`; each role may connect.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA public FROM PUBLIC"))
        conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(schema, owner))
        for r in model:
            who = sql.Identifier(r.name)
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), who))
            for privilege in r.schema_privileges:
                conn.execute(sql.SQL("GRANT {} ON SCHEMA {} TO {}").format(sql.SQL(privilege), schema, who))
            for objects, privileges in (("TABLES", r.table_privileges), ("SEQUENCES", r.sequence_privileges)):
                if privileges:
                    conn.execute(
                        sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT {} ON {} TO {}").format(
                            owner, schema, sql.SQL(", ").join(map(sql.SQL, privileges)), sql.SQL(objects), who
                        )
                    )
        conn.execute(sql.SQL("SET ROLE {}").format(owner))
        conn.execute("CREATE TABLE app.accounts (id bigserial PRIMARY KEY, name text NOT NULL)")
        conn.execute("RESET ROLE")
    return {
        r.kind: RoleCredentials(
            host=server.host,
            port=server.port,
            database=database,
            username=r.name,
            password=passwords[r.kind],
            pooled=r.uses_pooler,
        )
        for r in model
    }


_SERVER: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """This process's server, started on first use."""
    global _SERVER
    if _SERVER is None:
        sweep_stale_servers()
        _SERVER = start_server()
    return _SERVER


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15+ server on 127.0.0.1, for this test process; stopped and removed at the end."""
    global _SERVER
    server = shared_server()
    try:
        yield server
    finally:
        # Every module that imports this fixture has its own session-scoped copy of it; all of them are
        # finalized together at the end of the session, so the first to finish stops the server.
        if _SERVER is not None:
            _SERVER.stop()
            _SERVER = None
