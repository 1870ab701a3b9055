"""The one base class for errors a user can fix, so every command reports them the same way.

An ``MtlError`` carries a message that says what is wrong and what to do; the command-line
wrapper (``mtl_perception.common.cli_args.run_cli``) prints it as one line and exits 1. A
``UsageError`` is a bad argument: one line, exit 2, like argparse's own errors. Anything else
escaping a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class MtlError(Exception):
    """A runtime error with a message meant for the user (exit status 1)."""

    exit_code = 1


class UsageError(MtlError):
    """A bad command-line argument or parameter value (exit status 2)."""

    exit_code = 2
