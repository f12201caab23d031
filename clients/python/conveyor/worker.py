"""Workers in Python for ``conveyor-consumer --handler pipe:COMMAND``.

The consumer starts COMMAND as a long-lived process, writes one JSON task per line on its stdin and
reads one JSON answer per line from its stdout, matched by id and in any order. ``run(handler)``
does that framing, so a handler only sees a ``Task`` and returns its output or raises::

    from conveyor import worker

    def handle(task: worker.Task) -> str:
        return task.text.upper()

    if __name__ == "__main__":
        worker.run(handle)

or, without a ``__main__`` block: ``python3 -m conveyor.worker MODULE:FUNCTION``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import reduce
from pathlib import Path
from typing import Any, BinaryIO

from conveyor import _codec

__all__ = [
    "Handler", "HandlerNotFound", "Retry", "Task", "load_handler", "main", "parse_task", "run",
]

# A handler takes a Task and returns its output: a plain function or an ``async def``.
Handler = Callable[["Task"], Any]

# Markers on the worker's inbox, beside raw task lines (bytes) and fatal exceptions.
_EOF = object()
_DONE = object()


class Retry(Exception):
    """Raised by a handler to ask the broker to try the task again later.

    Use it for transient trouble (a busy service, a lock held elsewhere). It is not a bug report, so
    no traceback is logged; the message, if any, becomes the delivery's error text.
    """


class HandlerNotFound(LookupError):
    """A ``MODULE:FUNCTION`` spec that names nothing callable."""


class Task:
    """One delivery of a task, as a handler sees it.

    ``payload`` is the exact bytes the producer sent; ``text`` is the same decoded as UTF-8 for the
    common case of text payloads. The same task may be delivered again (at-least-once): ``attempt``
    counts deliveries, and ``id`` stays the same, so handlers can make their effects idempotent.
    """

    __slots__ = ("id", "seq", "attempt", "payload", "headers", "_emitted", "_answered")

    def __init__(
        self,
        id: str,  # noqa: A002 - the protocol's name
        seq: int = 0,
        attempt: int = 1,
        payload: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.id = id
        self.seq = seq
        self.attempt = attempt
        self.payload = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
        self.headers: dict[str, str] = dict(headers or {})
        self._emitted: list[dict[str, str]] = []
        self._answered = False

    @property
    def text(self) -> str:
        """The payload as text; bytes that are not UTF-8 show as U+FFFD rather than raising."""
        return self.payload.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The payload parsed as JSON (``json.JSONDecodeError``, a failed task, when it is not)."""
        return json.loads(self.text)

    def emit(self, payload: str | bytes) -> None:
        """Adds a task for the next pipeline stage to this task's answer.

        Emitted tasks go out with the answer (success or failure), so they exist only if this
        delivery is answered; they become tasks when the consumer runs with ``--emit-to QUEUE``.
        """
        if self._answered:
            raise RuntimeError(f"task {self.id} is already answered: emit() before returning")
        self._emitted.append(_codec.payload_fields("payload", payload))

    @property
    def emitted(self) -> list[bytes]:
        """The payloads emitted so far, as bytes (for tests of handlers)."""
        return [
            _codec.decode_bytes(e["payload"], e.get("encoding"), "payload") for e in self._emitted
        ]

    def _seal(self, answer: dict[str, Any]) -> dict[str, Any]:
        """Adds the emitted tasks to ``answer`` and closes the task to further emits."""
        self._answered = True
        if self._emitted:
            answer["emit"] = list(self._emitted)
        return answer

    def __repr__(self) -> str:
        return (
            f"Task(id={self.id!r}, seq={self.seq}, attempt={self.attempt}, "
            f"payload=<{len(self.payload)} bytes>, headers={self.headers!r})"
        )


def run(
    handler: Handler,
    *,
    concurrency: int | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> None:
    """Answers the tasks on stdin with ``handler`` until stdin ends, then returns.

    A plain function handles one task at a time, in order, or ``concurrency`` at once on as many
    threads. An ``async def`` handles many at once on one event loop, at most ``concurrency``
    (default: no limit here, since the consumer already bounds the tasks it hands to a worker).
    At end of input every task in flight is answered before ``run`` returns.

    ``stdin`` and ``stdout`` (binary streams) are for embedding and tests. Left out, the real
    stdout is reserved for protocol lines, and ``print()`` in a handler goes to stderr; and the
    end of stdin is the signal to stop, so a first SIGTERM or SIGINT is only logged (a second
    one stops at once).
    """
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {type(handler).__name__}")
    if concurrency is not None and (type(concurrency) is not int or concurrency < 1):
        raise ValueError(f"concurrency must be a positive int or None, got {concurrency!r}")
    with contextlib.ExitStack() as stack:
        if stdout is None:
            stdout = stack.enter_context(_protocol_stdout())
        if stdin is None:
            stack.enter_context(_stop_at_end_of_input())
        lines = stdin if stdin is not None else _lines_of_fd(0)
        answers = _AnswerStream(stdout)
        if _is_async(handler):
            asyncio.run(_serve_async(handler, lines, answers, concurrency))
        elif concurrency is not None and concurrency > 1:
            _serve_threads(handler, lines, answers, concurrency)
        else:
            _serve_in_order(handler, lines, answers)


@contextlib.contextmanager
def _protocol_stdout() -> Iterator[BinaryIO]:
    """Reserves the real stdout for protocol lines while the worker runs.

    A line on stdout that is not protocol makes the consumer restart the worker, so fd 1 itself is
    moved aside (not only ``sys.stdout``): ``print()``, C extensions and child processes of a
    handler then all write to stderr, the consumer's log. Restored on exit.
    """
    if sys.stdout is not None:
        sys.stdout.flush()
    saved_stdout = sys.stdout
    protocol = os.fdopen(os.dup(1), "wb")  # os.dup: not inherited by a handler's children
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        yield protocol
    finally:
        with contextlib.suppress(OSError, ValueError):
            protocol.flush()
        os.dup2(protocol.fileno(), 1)
        with contextlib.suppress(OSError):
            protocol.close()
        sys.stdout = saved_stdout


@contextlib.contextmanager
def _stop_at_end_of_input() -> Iterator[None]:
    """Makes a first SIGTERM or SIGINT a no-op: the worker stops when its stdin ends.

    A signal sent to a whole process group (Ctrl-C in a terminal, systemd stopping a service)
    reaches the consumer and its workers together. The consumer answers it by finishing the tasks
    it holds, which needs this worker; it then closes our stdin. A second signal means stop now,
    as it does for the consumer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            _log(f"{signal.Signals(signum).name}: finishing the tasks in flight, stopping when "
                 "stdin ends (a second signal stops at once)")
            return
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)

    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, on_signal) for signum in signals}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


class _AnswerStream:
    """The protocol stdout: whole lines only, one writer at a time, each flushed at once."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, answer: dict[str, Any]) -> None:
        text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        line = (text + "\n").encode("utf-8", errors="replace")  # a lone surrogate left: '?'
        with self._lock:
            self._stream.write(line)
            self._stream.flush()


def _serve_in_order(handler: Handler, lines: Iterable[bytes], answers: _AnswerStream) -> None:
    """One task at a time on this thread: the simplest worker, and safe for any handler."""
    for line in lines:
        task = _receive(line, answers)
        if task is not None:
            answers.send(_call(handler, task))


def _serve_threads(
    handler: Handler, lines: Iterable[bytes], answers: _AnswerStream, threads: int
) -> None:
    """``threads`` tasks at once on a pool; this thread only dispatches.

    Lines, completions and fatal errors all arrive on one inbox, so a ``SystemExit`` in a handler
    thread ends the worker at once rather than when the next line happens to arrive.
    """
    inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    _start_reader(lines, inbox.put)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="conveyor-task")
    in_flight, reading = 0, True
    try:
        while reading or in_flight:
            item = inbox.get()
            if item is _EOF:
                reading = False
            elif item is _DONE:
                in_flight -= 1
            elif isinstance(item, bytes):
                task = _receive(item, answers)
                if task is not None:
                    pool.submit(_answer_on_thread, handler, task, answers, inbox.put)
                    in_flight += 1
            else:
                raise _fatal(item)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _answer_on_thread(
    handler: Handler, task: Task, answers: _AnswerStream, report: Callable[[object], None]
) -> None:
    """Runs on a pool thread; what escapes (SystemExit, a closed stdout) ends the worker."""
    try:
        answers.send(_call(handler, task))
    except BaseException as exc:  # noqa: BLE001 - handed to the dispatching thread, which raises it
        report(exc)
        return
    report(_DONE)


async def _serve_async(
    handler: Handler, lines: Iterable[bytes], answers: _AnswerStream, limit: int | None
) -> None:
    """Many tasks at once on this event loop, fed by a reader thread: stdin never blocks it."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[object] = asyncio.Queue()

    def deliver(item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the worker is ending anyway
            loop.call_soon_threadsafe(inbox.put_nowait, item)

    def finished(job: asyncio.Task[None]) -> None:
        running.discard(job)
        if slots is not None:
            slots.release()
        failed = not job.cancelled() and job.exception() is not None
        inbox.put_nowait(job.exception() if failed else _DONE)

    _start_reader(lines, deliver)
    slots = asyncio.Semaphore(limit) if limit is not None else None
    running: set[asyncio.Task[None]] = set()  # strong references: the loop keeps only weak ones
    reading = True
    while reading or running:
        item = await inbox.get()
        if item is _EOF:
            reading = False
        elif isinstance(item, bytes):
            task = _receive(item, answers)
            if task is None:
                continue
            if slots is not None:
                await slots.acquire()
            job = asyncio.create_task(_answer_async(handler, task, answers), name=task.id)
            running.add(job)
            job.add_done_callback(finished)
        elif item is not _DONE:
            raise _fatal(item)


async def _answer_async(handler: Handler, task: Task, answers: _AnswerStream) -> None:
    answers.send(await _call_async(handler, task))


def _fatal(item: object) -> BaseException:
    if isinstance(item, BaseException):
        return item
    return RuntimeError(f"unexpected item on the worker's inbox: {item!r}")  # a bug in this module


def _lines_of_fd(fd: int) -> Iterator[bytes]:
    """The lines on ``fd``, read with os.read rather than through ``sys.stdin``.

    The reader thread is a daemon, blocked in a read when the worker exits early (SystemExit, a
    second signal). Blocked inside ``sys.stdin.buffer`` it would hold that object's lock, and the
    interpreter aborts at shutdown ("could not acquire lock for <stdin>"); os.read holds none.
    """
    parts: list[bytes] = []
    while chunk := os.read(fd, 1 << 16):
        *complete, tail = chunk.split(b"\n")
        if complete:
            parts.append(complete[0])
            yield b"".join(parts)
            yield from complete[1:]
            parts = []
        parts.append(tail)
    if any(parts):
        yield b"".join(parts)


def _start_reader(lines: Iterable[bytes], deliver: Callable[[object], None]) -> None:
    """Reads stdin on a daemon thread, handing each line and then _EOF to ``deliver``."""

    def read() -> None:
        try:
            for line in lines:
                deliver(line)
        except (OSError, ValueError) as exc:
            _log(f"reading stdin failed ({exc}); finishing the tasks in flight")
        deliver(_EOF)

    threading.Thread(target=read, name="conveyor-stdin", daemon=True).start()


def _receive(line: bytes, answers: _AnswerStream) -> Task | None:
    """The task on ``line``, or None after reporting a malformed line.

    A malformed line is logged and skipped, never fatal; one that names an id is also answered
    with an error, so the consumer does not wait for that task until it times out.
    """
    if not line.strip():
        return None
    try:
        return parse_task(line)
    except _MalformedLine as bad:
        _log(f"skipping a malformed task line ({bad}): {line[:200]!r}")
        if bad.task_id is not None:
            error = f"malformed task line: {bad}"
            answers.send({"id": bad.task_id, "error": error, "retry": False})
        return None


class _MalformedLine(ValueError):
    def __init__(self, message: str, task_id: str | None = None) -> None:
        super().__init__(message)
        self.task_id = task_id


def parse_task(line: bytes | str) -> Task:
    """The Task a protocol line describes; unknown keys are ignored (the protocol may grow).

    Raises ValueError (with ``task_id`` set when the line names one) for a line that is not a task.
    """
    try:
        fields = json.loads(line)
    except ValueError as exc:
        raise _MalformedLine(f"not JSON: {exc}") from None
    if not isinstance(fields, dict):
        raise _MalformedLine(f"not a JSON object but {type(fields).__name__}")
    task_id = fields.get("id")
    if not isinstance(task_id, str) or not task_id:
        raise _MalformedLine('no "id" string')
    try:
        return Task(
            task_id,
            seq=_int_field(fields, "seq"),
            attempt=_int_field(fields, "attempt"),
            payload=_codec.decode_bytes(fields.get("payload"), fields.get("encoding"), "payload"),
            headers=_headers(fields.get("headers")),
        )
    except ValueError as exc:
        raise _MalformedLine(str(exc), task_id) from None


def _int_field(fields: Mapping[str, Any], name: str) -> int:
    value = fields.get(name)
    if type(value) is not int:  # bool is an int to isinstance, not to the protocol
        raise ValueError(f'"{name}" must be an integer, got {value!r}')
    return value


def _headers(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError(f'"headers" must be an object of strings, got {value!r}')
    return value


def _call(handler: Handler, task: Task) -> dict[str, Any]:
    """The answer for ``task``: a handler's exception is a failed task, never a dead worker."""
    try:
        value = handler(task)
        if inspect.isawaitable(value):
            _discard(value)
            raise TypeError(
                "handler returned an awaitable: declare it with 'async def' so that "
                "conveyor.worker.run runs it on its event loop"
            )
    except Exception as exc:  # noqa: BLE001 - reported as the task's error
        return _failure(task, exc)
    return _success(task, value)


async def _call_async(handler: Handler, task: Task) -> dict[str, Any]:
    try:
        value = await handler(task)
    except asyncio.CancelledError as exc:
        if _being_cancelled():  # the worker is shutting down: not this task's failure
            raise
        return _failure(task, exc)  # the handler's own cancellation leaked out of it
    except Exception as exc:  # noqa: BLE001 - reported as the task's error
        return _failure(task, exc)
    return _success(task, value)


def _being_cancelled() -> bool:
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0


def _discard(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)  # a coroutine never awaited warns when collected
    if callable(close):
        close()


def _success(task: Task, value: Any) -> dict[str, Any]:
    try:
        fields = _output_fields(value)
    except Exception as exc:  # noqa: BLE001 - e.g. a return value that is not serialisable
        return _failure(task, exc)
    return task._seal({"id": task.id, **fields})


def _output_fields(value: Any) -> dict[str, str]:
    """The protocol fields for a handler's return value.

    str and bytes are the output itself (bytes that are not UTF-8 go as base64), None is an empty
    output, and anything else is the JSON text of the value, so a handler can return a dict.
    """
    if value is None:
        return {"output": ""}
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return _codec.payload_fields("output", value)
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"handler returned {type(value).__name__}, which is not str, bytes, None or "
            f"JSON-serialisable ({exc})"
        ) from None
    return _codec.text_fields("output", text)


def _failure(task: Task, exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, Retry):
        fields = {"error": _message(exc) or "retry requested", "retry": True}
    else:
        _log_failure(task, exc)
        fields = {"error": _describe(exc), "retry": False}
    return task._seal({"id": task.id, **fields})


def _describe(exc: BaseException) -> str:
    message = _message(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the answer
        return "<exception with an unprintable message>"


def _log_failure(task: Task, exc: BaseException) -> None:
    trace = "".join(traceback.format_exception(exc)).rstrip()
    _log(f"task {task.id} (attempt {task.attempt}) failed:\n{trace}")


def _log(message: str) -> None:
    """One message to stderr, which the consumer copies to its log."""
    print(f"conveyor.worker: {message}", file=sys.stderr, flush=True)


def _is_async(handler: Handler) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)
    )


def load_handler(spec: str) -> Handler:
    """The callable ``MODULE:FUNCTION`` names.

    MODULE is a module on sys.path (the current directory first) or a path to a ``.py`` file;
    FUNCTION may be dotted (``jobs:Parser.parse``).
    """
    module_name, _, attribute = spec.rpartition(":")
    if not module_name or not attribute:
        raise HandlerNotFound(f"expected MODULE:FUNCTION, got {spec!r}")
    module = _import(module_name)
    try:
        handler = reduce(getattr, attribute.split("."), module)
    except AttributeError:
        raise HandlerNotFound(f"{module_name!r} has no attribute {attribute!r}") from None
    if not callable(handler):
        raise HandlerNotFound(f"{spec!r} is not callable (type {type(handler).__name__})")
    return handler


def _import(name: str) -> Any:
    try:
        if name.endswith(".py") or os.sep in name:
            return _import_file(Path(name))
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(name)
    except ImportError as exc:
        raise HandlerNotFound(f"cannot import {name!r}: {exc}") from None


def _import_file(path: Path) -> Any:
    """Imports a .py file under its stem, its folder on sys.path so that it can import siblings."""
    if not path.is_file():
        raise ImportError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"not a Python module: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """``python3 -m conveyor.worker MODULE:FUNCTION [--concurrency N]``."""
    parser = argparse.ArgumentParser(
        prog="python3 -m conveyor.worker",
        description="Runs a Python function as a conveyor-consumer pipe: worker "
        "(--handler 'pipe:python3 -m conveyor.worker MODULE:FUNCTION').",
    )
    parser.add_argument(
        "handler",
        metavar="MODULE:FUNCTION",
        help="a module on sys.path or a .py file, and a callable in it",
    )
    parser.add_argument(
        "--concurrency", type=_positive_int, default=None, metavar="N",
        help="tasks at once: threads for a plain function, a limit for an async def (default: "
        "1 for a function, unlimited for an async def)",
    )
    args = parser.parse_args(argv)
    with _protocol_stdout() as stdout:  # before the import: a module may print when imported
        try:
            handler = load_handler(args.handler)
        except HandlerNotFound as exc:
            _log(str(exc))
            return 2
        run(handler, concurrency=args.concurrency, stdout=stdout)
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


if __name__ == "__main__":
    # Run the copy of this module that handlers import (conveyor.worker), not this __main__ one:
    # otherwise a handler's `raise conveyor.worker.Retry` would be a different class from ours.
    from conveyor import worker as _imported

    sys.exit(_imported.main())
