"""The trivial Python handler bench/run.sh runs three ways, to compare what each costs per task.

exec: starts this file for every task (payload on stdin, output on stdout); pipe: keeps worker
processes alive and calls handle() (sync) or handle_async() (async) through conveyor.worker.
"""

import sys


def handle(task):
    return task.text


async def handle_async(task):
    return task.text


if __name__ == "__main__":
    sys.stdout.write(sys.stdin.read())
