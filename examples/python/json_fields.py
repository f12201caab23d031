"""Picks one field out of each JSON record: the pipe: twin of examples/json_field_consumer.cpp.

Each task's payload is a JSON object; the output is the field at a dotted path (default
``user.name``): a string as it is, anything else as JSON. A payload that is not JSON, or lacks
the field, fails with the reason, and is not retried (it would fail the same way again).

    conveyor-consumer --broker tcp://localhost:5556 \\
        --handler 'pipe:python3 examples/python/json_fields.py user.name'
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from conveyor import worker

FIELD_ENV = "CONVEYOR_FIELD"
DEFAULT_FIELD = "user.name"


class MissingField(LookupError):
    """The record has no value at the path asked for."""


def pick(record: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``record``; MissingField saying where the path stops."""
    value = record
    keys = path.split(".")
    for depth, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            where = f"'{'.'.join(keys[:depth])}'" if depth else "the record"
            raise MissingField(f"no field '{path}': {where} has no '{key}'")
        value = value[key]
    return value


def make_handler(path: str) -> Callable[[worker.Task], Any]:
    """A handler returning the field at ``path`` of each task's JSON payload."""

    def handle(task: worker.Task) -> Any:
        return pick(task.json(), path)

    return handle


# For `python3 -m conveyor.worker json_fields:handle`; the path comes from the environment then.
handle = make_handler(os.environ.get(FIELD_ENV, DEFAULT_FIELD))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("field", nargs="?", default=os.environ.get(FIELD_ENV, DEFAULT_FIELD),
                        help=f"dotted path of the field (default: ${FIELD_ENV} or {DEFAULT_FIELD})")
    args = parser.parse_args(argv)
    worker.run(make_handler(args.field))


if __name__ == "__main__":
    main()
