"""Run ``conveyor-producer`` from Python and get each task's result as it completes.

::

    from conveyor import producer

    for result in producer.run(urls, broker="tcp://localhost:5555", id="p1"):
        print(result.seq, result.status, result.text)

Tasks go to the producer's stdin as JSON lines (``--source jsonl:-``, so payloads may hold
newlines and any bytes), from a thread of their own; results come back on its stdout
(``--results -``), in completion order: the ``asyncio.as_completed`` of a distributed queue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, TextIO

from conveyor import _codec

__all__ = ["EXIT_SOME_FAILED", "ProducerError", "Result", "run", "run_all"]

# The producer's exit status when every task has a final result but some failed or died.
EXIT_SOME_FAILED = 3

_REQUIRED = object()  # _field's default for a field a results line must have


@dataclass(frozen=True)
class Result:
    """The final result of one task, as the producer reports it."""

    id: str  # noqa: A003 - the protocol's name
    seq: int
    status: str  # "ok", "failed" or "dead"
    output: bytes = b""
    error: str | None = None
    consumer: str = ""
    attempts: int = 0
    queue: str | None = None  # the queue of an emitted task (pipelines)
    parent: str | None = None  # the id of the task that emitted this one

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def text(self) -> str:
        """The output as text; bytes that are not UTF-8 show as U+FFFD rather than raising."""
        return self.output.decode("utf-8", errors="replace")

    @classmethod
    def from_json(cls, line: bytes | str) -> Result:
        """The Result on one results line; ValueError saying what is wrong with a bad one."""
        fields = json.loads(line)
        if not isinstance(fields, dict):
            raise ValueError(f"not a JSON object but {type(fields).__name__}")
        return cls(
            id=_field(fields, "id", str),
            seq=_field(fields, "seq", int, _root_seq(fields.get("id"))),
            status=_field(fields, "status", str),
            output=_codec.decode_bytes(
                fields.get("output") or "", fields.get("encoding"), "output"
            ),
            error=_field(fields, "error", str, None),
            consumer=_field(fields, "consumer", str, ""),
            attempts=_field(fields, "attempts", int, 0),
            queue=_field(fields, "queue", str, None),
            parent=_field(fields, "parent", str, None),
        )


def _root_seq(task_id: object) -> Any:
    """The seq in an id (``p1:41``, or ``p1:41/0`` for a task emitted by p1:41), else _REQUIRED.

    For a line without "seq": emitted tasks have no place in the source of their own.
    """
    if isinstance(task_id, str) and ":" in task_id:
        digits = task_id.rsplit(":", 1)[1].split("/", 1)[0]
        if digits.isdigit():
            return int(digits)
    return _REQUIRED


def _field(fields: Mapping[str, Any], name: str, kind: type, default: Any = _REQUIRED) -> Any:
    value = fields.get(name)
    if value is None and default is not _REQUIRED:
        return default
    if type(value) is not kind:  # exact: a bool is not a seq
        raise ValueError(f'"{name}" must be {kind.__name__}, got {value!r}')
    return value


class ProducerError(Exception):
    """``conveyor-producer`` ended badly, or wrote something that is not a results line.

    ``status`` is its exit status (negative: killed by that signal; None for a bad results line,
    read before it exited) and ``stderr_line`` its last line on stderr, when run() captured it.
    """

    def __init__(self, message: str, status: int | None = None, stderr_line: str | None = None):
        super().__init__(message)
        self.status = status
        self.stderr_line = stderr_line


def run(
    tasks: Iterable[str | bytes],
    *,
    broker: str | None = None,
    id: str | None = None,  # noqa: A002 - the flag's name
    queue: str | None = None,
    executable: str = "conveyor-producer",
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    stderr: int | IO[Any] | None = None,
    check: bool = False,
    stop_timeout: float = 5.0,
) -> Iterator[Result]:
    """Sends ``tasks`` through ``conveyor-producer`` and yields each Result as it completes.

    ``tasks`` may be any iterable, a slow or endless generator too: it is consumed on a thread of
    its own while results stream back, so results arrive before it is exhausted. ``env`` replaces
    the environment, as in ``subprocess`` (``CONVEYOR_*`` variables set flags). The producer's
    stderr goes to ours unless ``stderr`` says otherwise (a file, ``subprocess.DEVNULL``, or
    ``subprocess.PIPE`` to keep only its last line for errors).

    Ends when the producer exits 0, or 3 (some tasks failed or died: their Results say so) unless
    ``check``; any other exit raises ProducerError. An exception from ``tasks`` is raised once
    the producer has finished the tasks it already took. Closing the generator early stops the
    producer: SIGTERM (it sends its pill and waits for its results), SIGKILL after
    ``stop_timeout`` seconds.
    """
    command = _command(executable, broker, id, queue, extra_args)
    with _ProducerProcess(command, tasks, env, stderr, stop_timeout) as producer:
        yield from producer.results()
        producer.finish(check)


def run_all(tasks: Iterable[str | bytes], **options: Any) -> list[Result]:
    """Every Result of ``run(tasks, **options)``, in source order (by seq)."""
    return sorted(run(tasks, **options), key=lambda result: (result.seq, result.id))


def _command(
    executable: str,
    broker: str | None,
    id: str | None,  # noqa: A002 - the flag's name
    queue: str | None,
    extra_args: Sequence[str],
) -> list[str]:
    if isinstance(extra_args, (str, bytes)):
        raise TypeError("extra_args must be a sequence of arguments, not one string")
    command = [executable, "--source", "jsonl:-", "--results", "-", "--quiet"]
    for flag, value in (("--broker", broker), ("--id", id), ("--queue", queue)):
        if value is not None:
            command += [flag, value]
    return command + [str(arg) for arg in extra_args]


class _ProducerProcess:
    """One conveyor-producer child with the threads that feed its stdin and watch its stderr."""

    def __init__(
        self,
        command: list[str],
        tasks: Iterable[str | bytes],
        env: Mapping[str, str] | None,
        stderr: int | IO[Any] | None,
        stop_timeout: float,
    ) -> None:
        captured = stderr is None or stderr == subprocess.PIPE
        self._command = command
        self._stop_timeout = stop_timeout
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if captured else stderr,
            env=None if env is None else dict(env),
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._feeder = _TaskFeeder(self._process.stdin, tasks)
        self._stderr: _StderrTail | None = None
        if captured:
            assert self._process.stderr is not None
            self._stderr = _StderrTail(self._process.stderr, sys.stderr if stderr is None else None)

    def __enter__(self) -> _ProducerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def results(self) -> Iterator[Result]:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            if not line.strip():
                continue
            try:
                yield Result.from_json(line)
            except ValueError as exc:
                raise ProducerError(
                    f"{self._name} wrote a line that is not a result ({exc}): {line[:200]!r}"
                ) from None

    def finish(self, check: bool) -> None:
        """Waits for the exit (stdout has ended) and raises if the run did not go as it should."""
        status = self._process.wait()
        clean = status == 0 or status == EXIT_SOME_FAILED
        # After a clean end the feeder has closed stdin and is finishing; after a crash it may be
        # blocked in `tasks`, and the exit status is the news anyway.
        self._feeder.join(self._stop_timeout if clean else 0)
        if self._stderr is not None:
            self._stderr.join(self._stop_timeout)
        if self._feeder.error is not None:
            raise self._feeder.error
        if status == 0 or (clean and not check):
            return
        raise self._error(status)

    def close(self) -> None:
        """Stops the producer if it still runs (an early close) and reaps everything it had."""
        self._feeder.stop()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(self._stop_timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._feeder.join(self._stop_timeout)
        if self._stderr is not None:
            self._stderr.join(self._stop_timeout)
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def _error(self, status: int) -> ProducerError:
        line = self._stderr.last_line if self._stderr is not None else None
        if status < 0:
            what = f"was killed by signal {-status}"
        elif status == EXIT_SOME_FAILED:
            what = "exited with status 3 (some tasks failed or died)"
        else:
            what = f"exited with status {status}"
        return ProducerError(f"{self._name} {what}" + (f": {line}" if line else ""), status, line)

    @property
    def _name(self) -> str:
        return os.path.basename(self._command[0])


class _TaskFeeder:
    """Writes tasks as JSON lines on the producer's stdin, on a thread of its own.

    Results are read on the caller's thread at the same time, so neither pipe can fill up and
    deadlock the other. Closing stdin at the end is the producer's end of source.
    """

    def __init__(self, stdin: BinaryIO, tasks: Iterable[str | bytes]) -> None:
        self.error: BaseException | None = None
        self._stdin = stdin
        self._tasks = tasks
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._feed, name="conveyor-producer-stdin", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float) -> None:
        """Waits at most ``timeout``: ``tasks`` may block forever, and the thread is a daemon."""
        self._thread.join(timeout)

    def _feed(self) -> None:
        try:
            for index, task in enumerate(self._tasks):
                if self._stopping.is_set() or not self._write(_task_line(index, task)):
                    break
        except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread by finish()
            self.error = exc
        finally:
            try:
                self._stdin.close()
            except OSError:
                pass  # the producer is gone: unflushed lines have nowhere to go

    def _write(self, line: bytes) -> bool:
        """Writes one line; False once the producer has gone (its exit status then says why)."""
        try:
            self._stdin.write(line)
            self._stdin.flush()  # a slow source must not leave tasks sitting in our buffer
        except (BrokenPipeError, ValueError):  # ValueError: closed under us by an early close
            return False
        return True


def _task_line(index: int, task: str | bytes) -> bytes:
    try:
        fields = _codec.payload_fields("payload", task)
    except TypeError:
        raise TypeError(f"task {index} is {type(task).__name__}: expected str or bytes") from None
    return (json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


class _StderrTail:
    """Copies the producer's stderr to ``sink`` (or nowhere), keeping its last line for errors."""

    def __init__(self, stream: BinaryIO, sink: TextIO | None) -> None:
        self.last_line: str | None = None
        self._stream = stream
        self._sink = sink
        self._thread = threading.Thread(
            target=self._copy, name="conveyor-producer-stderr", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _copy(self) -> None:
        try:
            for raw in self._stream:
                line = raw.decode("utf-8", errors="replace")
                if line.strip():
                    self.last_line = line.strip()
                if self._sink is not None:
                    self._sink.write(line)
                    self._sink.flush()
        except (OSError, ValueError):
            pass  # our end was closed: the run is over
