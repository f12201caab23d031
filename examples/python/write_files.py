"""Writes each task's payload to a file of its own and returns the file's path.

The file is named after the task id (``p1:41`` is ``task-p1%3A41``), in the directory given by
``--out-dir`` or ``$CONVEYOR_OUT_DIR``. It is written atomically (a temporary file in the same
directory, then a rename), so a reader never sees half a file, and idempotently: a task delivered
twice (at-least-once) writes the same file with the same bytes. A failed write (disk full,
permissions) asks for a retry.

    conveyor-consumer --broker tcp://localhost:5556 \\
        --handler 'pipe:python3 examples/python/write_files.py --out-dir /tmp/conveyor-out'
"""

from __future__ import annotations

import argparse
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from conveyor import worker

OUT_DIR_ENV = "CONVEYOR_OUT_DIR"
MAX_NAME = 200  # well under NAME_MAX (255), leaving room for the temporary file's suffix


def file_name(task_id: str) -> str:
    """A file name for ``task_id``: one per id, safe anywhere, never hidden, '.' or '..'.

    Percent-encoding keeps distinct ids distinct; an id too long for a file name keeps a readable
    prefix and a hash of the whole id.
    """
    name = "task-" + quote(task_id, safe="")
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(task_id.encode()).hexdigest()[:32]
        name = f"{name[:MAX_NAME - 33]}-{digest}"
    return name


def write_atomically(path: Path, data: bytes) -> None:
    """Replaces ``path`` with ``data`` in one step: readers see the old file or the new one."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "xb") as file:  # 'x': never someone else's file; mode from umask
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def make_handler(out_dir: Path) -> Callable[[worker.Task], str]:
    """A handler writing each task's payload under ``out_dir``."""

    def handle(task: worker.Task) -> str:
        path = out_dir / file_name(task.id)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(path, task.payload)
        except OSError as exc:
            raise worker.Retry(f"cannot write {path}: {exc.strerror or exc}") from exc
        return str(path)

    return handle


def handle(task: worker.Task) -> str:
    """For ``python3 -m conveyor.worker write_files:handle``: the directory is $CONVEYOR_OUT_DIR."""
    out_dir = os.environ.get(OUT_DIR_ENV)
    if not out_dir:
        raise RuntimeError(f"set {OUT_DIR_ENV} to the directory to write files in")
    return make_handler(Path(out_dir))(task)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=os.environ.get(OUT_DIR_ENV),
                        help=f"directory for the files (default: ${OUT_DIR_ENV})")
    args = parser.parse_args(argv)
    if args.out_dir is None:
        parser.error(f"give --out-dir or set {OUT_DIR_ENV}")
    worker.run(make_handler(Path(args.out_dir)))


if __name__ == "__main__":
    main()
