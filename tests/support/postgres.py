"""A private PostgreSQL server on loopback that a test may restart or stop (the shared one must stay up).

    with PrivatePostgres(tmp_path / "pg") as pg:
        url = pg.url
        pg.restart()             # a database restart in the middle of the daemon's work
        pg.stop(); pg.start()    # an outage

Made with the OS's initdb/pg_ctl (Debian's postgresql package), trust authentication, fsync off (a test
server: commits survive a crash of the server, not of the machine).
As root, the server runs as the `postgres` user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from tests.support.dovecot import free_port


def bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def available() -> bool:
    return bindir() is not None


class PrivatePostgres:
    def __init__(self, rundir: Path, port: int | None = None):
        self.rundir = Path(rundir)
        self.data = self.rundir / "data"
        self.port = port or free_port()
        self.bin = bindir()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
        self._as = []
        self._owner = None
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            self._owner = pwd.getpwnam("postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        out = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed ({out.returncode}): {out.stderr.strip()[-800:]}\n"
                               f"{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        log = self.rundir / "server.log"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""

    def _pg_ctl(self, *args: str) -> None:
        # fsync off only spares the disk: a crash of the server (not of the machine) still keeps every
        # committed transaction. synchronous_commit must stay on, or an "immediate" stop loses the last commits.
        options = (f"-p {self.port} -k {self.rundir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.rundir / "server.log"),
                  "-o", options, "-w", "-t", "60", *args)

    def init(self) -> "PrivatePostgres":
        self.rundir.mkdir(parents=True, exist_ok=True)
        if self._owner is not None:
            os.chown(self.rundir, self._owner.pw_uid, self._owner.pw_gid)
            # the server must reach its folder: every parent needs search permission for it
            for parent in self.rundir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        if not (self.data / "PG_VERSION").exists():
            self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                      "-E", "UTF8", "--locale", "C")
        return self

    def start(self) -> "PrivatePostgres":
        if not (self.data / "PG_VERSION").exists():
            self.init()
        self._pg_ctl("start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash of the server."""
        self._pg_ctl("restart", "-m", mode)

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(self, *exc) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.rundir, ignore_errors=True)
