"""Conveyor's Python client.

- ``conveyor.worker``: write a ``conveyor-consumer --handler pipe:...`` worker as a Python function.
- ``conveyor.producer``: run ``conveyor-producer`` and get its results as they complete.

Standard library only (Python 3.11+).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Loaded on first use, not here: importing conveyor.worker from this file would make
# `python3 -m conveyor.worker` warn that the module was imported before it ran as __main__.
_LAZY = {
    "Task": "conveyor.worker",
    "Retry": "conveyor.worker",
    "Result": "conveyor.producer",
    "ProducerError": "conveyor.producer",
}

__all__ = ["ProducerError", "Result", "Retry", "Task", "__version__"]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'conveyor' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
