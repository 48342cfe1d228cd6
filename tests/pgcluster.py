"""A throwaway PostgreSQL server: ``initdb`` in a private folder, started on a free loopback port.

The CI script starts one for the whole suite; the fault test starts its own, so it can
stop it mid-stream. As root, the server runs as the ``postgres`` user (it refuses root).

    python -m tests.pgcluster start     # prints `export FEEDBACK_TEST_POSTGRES_URL=...` lines
    python -m tests.pgcluster stop DIR
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

DATABASE = "feedback_test"


def bindir() -> Path | None:
    """Where initdb and pg_ctl are: FEEDBACK_TEST_PG_BINDIR, else Debian's newest server."""
    if os.environ.get("FEEDBACK_TEST_PG_BINDIR"):
        return Path(os.environ["FEEDBACK_TEST_PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    def __init__(self, root: Path, port: int | None = None) -> None:
        found = bindir()
        if found is None:
            raise RuntimeError("PostgreSQL's initdb was not found; install postgresql")
        self.bin = found
        self.root = root
        self.data = root / "data"
        self.port = port or free_port()

    @classmethod
    def create(cls) -> PgCluster:
        """A new cluster in a new folder under the system temp dir (reachable by postgres)."""
        root = Path(tempfile.mkdtemp(prefix="feedback-pg-"))
        cluster = cls(root)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        cluster.init()
        return cluster

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")

    def init(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self.start()
        import psycopg

        with psycopg.connect(self.url.replace(DATABASE, "postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root}"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        cluster = PgCluster.create()
        print(f"export FEEDBACK_TEST_POSTGRES_URL={cluster.url}")
        print(f"export FEEDBACK_TEST_POSTGRES_DIR={cluster.root}")
        print(f"export FEEDBACK_TEST_PG_BINDIR={cluster.bin}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        PgCluster(Path(argv[1])).destroy()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
