"""What the tests share: paths, and a worker subprocess that every wait bounds with a deadline."""

from __future__ import annotations

import faulthandler
import json
import os
import queue
import subprocess
import sys
import threading
import unittest
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
CLIENT_DIR = TESTS_DIR.parent
EXAMPLES_DIR = CLIENT_DIR.parent.parent / "examples" / "python"
TIMEOUT = 20.0  # seconds: generous for a loaded 2-core machine, and still a deadline
TEST_DEADLINE = 120.0  # seconds for a whole test, however it blocks

if str(CLIENT_DIR) not in sys.path:
    sys.path.insert(0, str(CLIENT_DIR))


class TestCase(unittest.TestCase):
    """A test that cannot hang: past TEST_DEADLINE the run stops with every thread's traceback.

    Waits in the tests have their own timeouts; this also bounds the calls that cannot take one
    (iterating producer.run, an in-process worker.run).
    """

    def setUp(self) -> None:
        super().setUp()
        faulthandler.dump_traceback_later(TEST_DEADLINE, exit=True)
        self.addCleanup(faulthandler.cancel_dump_traceback_later)


def python_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that imports conveyor and the test handlers."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CLIENT_DIR), str(TESTS_DIR)])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def task_line(number: int, payload: str = "", *, producer: str = "p1", **fields: Any) -> bytes:
    """A protocol line as the consumer writes it; ``fields`` add keys or override them."""
    defaults = {"id": f"{producer}:{number}", "seq": number, "attempt": 1, "payload": payload}
    fields = {**defaults, **fields}
    return (json.dumps(fields) + "\n").encode()


def task_lines(*payloads: str, **fields: Any) -> list[bytes]:
    """One task line per payload, numbered from 0."""
    return [task_line(number, payload, **fields) for number, payload in enumerate(payloads)]


class WorkerProcess:
    """``python3 -m conveyor.worker SPEC`` with its stdout and stderr read on threads.

    Answers can then be awaited one by one with a deadline while stdin stays open, which is how
    the tests see that answers stream and come back out of order.
    """

    def __init__(
        self, spec: str, *args: str, cwd: Path = TESTS_DIR, command: list[str] | None = None
    ) -> None:
        argv = command or [sys.executable, "-m", "conveyor.worker", spec, *args]
        self.process = subprocess.Popen(
            argv, cwd=cwd, env=python_env(),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: list[bytes] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def send(self, *lines: bytes) -> None:
        assert self.process.stdin is not None
        for line in lines:
            self.process.stdin.write(line)
        self.process.stdin.flush()

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except BrokenPipeError:
            pass  # the worker has exited already: its status tells the test why

    def raw_line(self, timeout: float = TIMEOUT) -> bytes | None:
        """The next stdout line, or None at end of output."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer within {timeout}s; stderr:\n{self.stderr}") from None

    def answer(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        line = self.raw_line(timeout)
        if line is None:
            raise AssertionError(f"the worker closed stdout; stderr:\n{self.stderr}")
        return json.loads(line)

    def answers(self, count: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        return [self.answer(timeout) for _ in range(count)]

    def finish(self, timeout: float = TIMEOUT) -> tuple[list[bytes], int]:
        """Closes stdin; the remaining stdout lines and the exit status."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.close_stdin()
        rest = []
        while (line := self.raw_line(timeout)) is not None:
            rest.append(line)
        status = self.process.wait(timeout)
        self._readers[1].join(timeout)
        return rest, status

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)


def run_worker(spec: str, lines: list[bytes], *args: str) -> tuple[list[dict[str, Any]], str, int]:
    """Feeds ``lines`` to a worker and closes its stdin: (answers, stderr, exit status).

    Every stdout line must be JSON: a line that is not would make the real consumer restart us.
    """
    with WorkerProcess(spec, *args) as worker:
        worker.send(*lines)
        rest, status = worker.finish()
        return [json.loads(line) for line in rest], worker.stderr, status


def by_id(answers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {answer["id"]: answer for answer in answers}
