"""A throw-away PostgreSQL cluster from the Debian package's binaries, for tests and experiments that stop the
database on purpose (the chaos suite's database outage).

    with LocalPostgres() as pg:         # initdb in a temporary folder, started on a free port
        url = pg.url                    # postgresql+psycopg2://postgres@127.0.0.1:PORT/ers
        pg.stop()                       # a real outage: connections refused
        pg.start()                      # the same cluster again, on the same port

The server runs as the `postgres` system user when this process is root (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from deploy.local.kafka import free_port


class LocalPostgresError(RuntimeError):
    pass


def postgres_bin() -> Path | None:
    """The newest installed server's bin folder (/usr/lib/postgresql/<version>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: [int(x) for x in
                                                                                 Path(p).parts[-3].split(".")])
    return Path(found[-1]).parent if found else None


class LocalPostgres:
    def __init__(self, port: int | None = None, database: str = "ers") -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            raise LocalPostgresError("no PostgreSQL server installed (Debian package postgresql)")
        self.port = port or free_port()
        self.database = database
        self.root = Path(tempfile.mkdtemp(prefix="ers-pg-"))
        self.data = self.root / "data"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{self.database}"

    def start(self, timeout: float = 30.0) -> "LocalPostgres":
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-t", str(int(timeout)),
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")
        if not self._initialised:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)
            self._initialised = True
        return self

    def stop(self) -> None:
        """Stop the server at once (connections are cut, as in a crash of the database host)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalPostgres":
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / program), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.root, timeout=120)
        if check and result.returncode != 0:
            log = self.root / "server.log"
            raise LocalPostgresError(f"{program} failed ({result.returncode}): {result.stderr.strip()}\n"
                                     f"{log.read_text()[-2000:] if log.exists() else ''}")
        return result

