"""Handlers the worker tests run in real ``python3 -m conveyor.worker`` subprocesses.

Concurrency is checked with barriers, not timings: a handler waits until N tasks are running at
once (with a deadline), so the test passes only if N really overlapped, however loaded the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

from conveyor.worker import Retry, Task

BARRIER_TIMEOUT = 15.0


def echo(task: Task) -> bytes:
    return task.payload


def upper(task: Task) -> str:
    return task.text.upper()


def describe(task: Task) -> dict[str, Any]:
    return {"id": task.id, "seq": task.seq, "attempt": task.attempt, "text": task.text,
            "size": len(task.payload), "headers": task.headers}


RETURNS: dict[str, Any] = {
    "str": "plain text",
    "none": None,
    "dict": {"name": "Zoë", "n": 1},
    "list": [1, "two", None],
    "int": 42,
    "float": 1.5,
    "true": True,
    "utf8-bytes": "héllo".encode(),
    "binary-bytes": b"\x00\xff\xfe",
    "bytearray": bytearray(b"array"),
    "surrogate-str": os.fsdecode(b"raw\xff"),
    "set": {1, 2},
    "object": object(),
    "nested-set": {"values": {3}},
    "nan": float("nan"),
}


def returns(task: Task) -> Any:
    """Returns the value named by the payload."""
    return RETURNS[task.text]


def fails(task: Task) -> str:
    """Fails as the payload says, or returns "fine"."""
    match task.text:
        case "retry":
            raise Retry("database busy")
        case "retry-empty":
            raise Retry()
        case "value":
            raise ValueError("bad value 7")
        case "key":
            return {}["missing"]
        case "empty-message":
            raise RuntimeError()
        case "exit":
            raise SystemExit(7)
        case "interrupt":
            raise KeyboardInterrupt
    return "fine"


async def async_fails(task: Task) -> str:
    await asyncio.sleep(0)
    if task.text == "cancel-self":
        raise asyncio.CancelledError()
    return fails(task)


def noisy(task: Task) -> str:
    """Writes to stdout every way a handler might: all of it must land on stderr."""
    print("printed by the handler")
    sys.stdout.write("written to sys.stdout\n")
    sys.__stdout__.write("written to sys.__stdout__\n")
    sys.__stdout__.flush()
    os.write(1, b"written to fd 1\n")
    os.system("echo written by a child process")
    return "quiet"


def emits(task: Task) -> str:
    task.emit("first")
    task.emit(b"\xff\x00")
    task.emit("two\nlines")
    if task.text == "fail":
        raise ValueError("emitted, then failed")
    return "emitted"


def emits_bad_type(task: Task) -> str:
    task.emit(123)  # type: ignore[arg-type]
    return "unreachable"


def returns_coroutine(task: Task) -> Any:
    return async_echo(task)  # forgot 'async def': must fail clearly, not hang


def headers(task: Task) -> dict[str, str]:
    return task.headers


def parse_json(task: Task) -> Any:
    return task.json()["value"]


# --- concurrency: one barrier per worker process (each test starts its own process) ---

_lock = threading.Lock()
_running = 0
_peak = 0
_arrived = threading.Event()


def thread_barrier(task: Task) -> dict[str, int]:
    """Waits until ``int(payload)`` tasks run at once on threads; returns the peak seen."""
    global _running, _peak
    with _lock:
        _running += 1
        _peak = max(_peak, _running)
        if _running >= int(task.text):
            _arrived.set()
    try:
        if not _arrived.wait(BARRIER_TIMEOUT):
            raise TimeoutError(f"only {_peak} tasks ever ran at once")
        with _lock:
            return {"peak": _peak}
    finally:
        with _lock:
            _running -= 1


def thread_peak(task: Task) -> dict[str, int]:
    """Runs a little while, returning the most tasks seen at once (one at a time: 1)."""
    global _running, _peak
    with _lock:
        _running += 1
        _peak = max(_peak, _running)
    try:
        threading.Event().wait(0.02)
        with _lock:
            return {"peak": _peak}
    finally:
        with _lock:
            _running -= 1


_async_running = 0
_async_peak = 0
_async_arrived: asyncio.Event | None = None


async def async_barrier(task: Task) -> dict[str, int]:
    """Waits until ``int(payload)`` tasks run at once on the loop, then sleeps a little."""
    global _async_running, _async_peak, _async_arrived
    if _async_arrived is None:
        _async_arrived = asyncio.Event()
    _async_running += 1
    _async_peak = max(_async_peak, _async_running)
    try:
        if _async_running >= int(task.text):
            _async_arrived.set()
        try:
            await asyncio.wait_for(_async_arrived.wait(), BARRIER_TIMEOUT)
        except TimeoutError:
            raise TimeoutError(f"only {_async_peak} tasks ever ran at once") from None
        await asyncio.sleep(0.2)
        return {"peak": _async_peak}
    finally:
        _async_running -= 1


_events: dict[str, asyncio.Event] = {}


async def ordered(task: Task) -> str:
    """``wait:K`` finishes only after ``set:K`` has: forces answers out of arrival order."""
    action, key = task.text.split(":")
    event = _events.setdefault(key, asyncio.Event())
    if action == "set":
        event.set()
    else:
        await asyncio.wait_for(event.wait(), BARRIER_TIMEOUT)
    return task.text


async def async_sleep(task: Task) -> str:
    await asyncio.sleep(float(task.text))
    return f"slept {task.text}"


def sleep(task: Task) -> str:
    threading.Event().wait(float(task.text))
    return f"slept {task.text}"


async def async_echo(task: Task) -> bytes:
    await asyncio.sleep(0)
    return task.payload


async def async_emits(task: Task) -> str:
    await asyncio.sleep(0)
    task.emit(json.dumps({"from": task.id}))
    return "emitted"


class Handlers:
    """Handlers as methods, for ``MODULE:Class.attribute`` specs."""

    @staticmethod
    def shout(task: Task) -> str:
        return task.text.upper() + "!"


NOT_CALLABLE = 3
