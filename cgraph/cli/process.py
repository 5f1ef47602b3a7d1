"""The ``cgraph`` command as a Unix process: its version, encodings, closed pipes and numbers.

What the command does about its surroundings rather than about graphs: the
version it reports, text a terminal's encoding cannot show (written with
backslash escapes rather than failing), and a reader of stdout that goes away
(``| head -1``: stop quietly, as a program killed by SIGPIPE does).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Callable

__all__ = ["EXIT_INTERRUPTED", "EXIT_BROKEN_PIPE", "version", "run_as_process", "positive_int"]

EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 128 + 2, 128 + 13  # as a shell reports SIGINT, SIGPIPE


def version() -> str:
    """The installed cgraph's version (the package metadata's, else ``cgraph.__version__``).

    Examples
    --------
    >>> version().count(".") >= 1
    True
    """
    try:
        return importlib.metadata.version("cgraph")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        import cgraph

        return cgraph.__version__


def run_as_process(run: Callable[[], int]) -> int:
    """``run()``'s exit status, with Ctrl-C and a closed stdout handled as Unix tools do.

    Ctrl-C is one line, ``cgraph: interrupted``, on stderr and status 130; a
    reader of stdout that went away (``| head -1``) ends the command quietly with
    status 141, as SIGPIPE would (Python's recipe: stdout onto devnull, so that
    the flush at exit cannot fail). Text that the encoding of stdout or stderr
    cannot show (PYTHONIOENCODING=ascii) is written with backslash escapes.

    Examples
    --------
    >>> def interrupted():
    ...     raise KeyboardInterrupt
    >>> run_as_process(lambda: 0), run_as_process(interrupted)
    (0, 130)
    """
    _escape_unencodable()
    try:
        return run()
    except KeyboardInterrupt:
        print("cgraph: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _escape_unencodable() -> None:
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (stdout replaced in-process)
        pass


def positive_int(text: str) -> int:
    """An option's whole number >= 1, or argparse's error.

    Examples
    --------
    >>> positive_int("10000000")
    10000000
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number >= 1, not '0'
    """
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, not {text!r}")
    return number
