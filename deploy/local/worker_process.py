"""An `ers worker` in a child process: what `ers drill run` and the integration tests start."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path


class WorkerExited(RuntimeError):
    pass


class WorkerProcess:
    """`python -m streams.cli worker` with the given environment, its output in `log_path`."""

    def __init__(self, env: Mapping[str, str], workdir: Path, log_path: Path | None = None,
                 own_session: bool = False) -> None:
        self.env = dict(env)
        self.workdir = workdir
        self.log_path = log_path or workdir / "worker.log"
        # A worker in its own session does not get the terminal's Ctrl-C: its parent stops it.
        self._own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    def start(self, timeout: float = 90.0) -> "WorkerProcess":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"], cwd=self.workdir, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=self._own_session,
            )
        self.wait_for_log("Ready", timeout)
        return self

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_since_start():
                return
            self.check_alive()
            time.sleep(0.2)
        raise WorkerExited(f"worker not {text!r} within {timeout}s:\n{self.log_since_start()[-4000:]}")

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise WorkerExited(f"worker exited ({self.process.returncode}):\n{self.log_since_start()[-4000:]}")

    def log_since_start(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_offset)
            return f.read().decode("utf-8", "replace")

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 60) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)
