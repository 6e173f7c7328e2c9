"""The ``oxlearn`` logger. ``OXLEARN_VERBOSE=INFO`` switches it on at import."""

import logging
import os

logger = logging.getLogger("oxlearn")


def _configure_from_env():
    level = os.environ.get("OXLEARN_VERBOSE")
    if not level:
        return
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"OXLEARN_VERBOSE={level!r} is not a logging level (try INFO or DEBUG)")
    set_verbose(value)


def set_verbose(level=logging.INFO):
    """Log oxlearn's dispatch decisions at ``level`` to standard error."""
    logger.setLevel(level)
    if not any(getattr(h, "_oxlearn", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s: %(message)s"))
        handler._oxlearn = True
        logger.addHandler(handler)


_configure_from_env()
