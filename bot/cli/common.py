"""What every CLI command shares besides its runtime (bot/cli/runtime.py: settings, database,
clock): the event loop and table printing. Logging is config/logs.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from config.text import table as table  # the commands print with it

P = ParamSpec("P")
T = TypeVar("T")


def run(func: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Run an async command body in a fresh event loop."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(func(*args, **kwargs))

    return wrapper
