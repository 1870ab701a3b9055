"""The shared command-line grammar: sizes, outputs, limits, progress, JSON, exit codes.

Why in common/: each command's parser lives beside the code it drives (offline evaluation in
evaluation/, export in deploy/, ...), so every layer that has a command needs the grammar;
cli/ only holds the console-script entry points above them all.

Every ``mtl-*`` command builds its parser from these helpers, so the same idea is spelt the
same way everywhere:
  * sizes are ``HxW``, height first (``384x640``), the order of the model's input shape;
  * ``--out PATH`` is where results go; ``--json PATH`` writes the machine-readable numbers
    there (``-`` = standard output);
  * ``--limit N`` caps how many items (frames, images) a command reads;
  * ``--no-progress`` turns progress bars off;
  * exit status 0 = done, 1 = runtime error (a ``MtlError``: one line), 2 = usage error
    (argparse's errors and ``UsageError``: one line), 130 = interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mtl_perception.common.errors import MtlError

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class ArgumentParser(argparse.ArgumentParser):
    """argparse with usage errors as one line (``mtl-x: error: ...; see --help``), exit 2.

    Subcommand parsers made with ``add_subparsers`` inherit the class.
    """

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_hw(text: str) -> tuple[int, int]:
    """``"384x640"`` -> ``(384, 640)``; a width-first size is refused with the expected form.

    Car cameras and the network input are landscape, so a size taller than wide is almost
    always W and H swapped (the other common convention); it is refused rather than
    silently giving a portrait input.
    """
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HxW (height first, e.g. 384x640), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive HxW size, got {text!r}")
    if h > w:
        raise argparse.ArgumentTypeError(
            f"expected HxW (height first, e.g. {w}x{h}), got {text!r}: that reads as "
            f"{h} high and {w} wide; sizes are height x width")
    return h, w


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_size(parser: argparse.ArgumentParser, flag: str = "--input-size",
             default: tuple[int, int] | None = None, help: str = "network input") -> None:
    shown = f" (default {default[0]}x{default[1]})" if default else ""
    parser.add_argument(flag, type=parse_hw, default=default, metavar="HxW",
                        help=f"{help}, height x width{shown}")


def add_out(parser: argparse.ArgumentParser, default: str | None = None,
            help: str = "where results go", required: bool = False) -> None:
    parser.add_argument("--out", type=Path, default=Path(default) if default else None,
                        required=required, metavar="PATH", help=help)


def add_json(parser: argparse.ArgumentParser,
             help: str = "also write the numbers as JSON to PATH ('-' = standard output)"
             ) -> None:
    parser.add_argument("--json", default=None, metavar="PATH", help=help)


def add_limit(parser: argparse.ArgumentParser, what: str = "frames", flag: str = "--limit"
              ) -> None:
    parser.add_argument(flag, type=positive_int, default=None, metavar="N",
                        help=f"read only the first N {what}")


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def write_json(dest: str | None, payload: Any) -> None:
    """``--json PATH`` output: one JSON document at PATH, or on stdout for ``-``."""
    if dest is None:
        return
    text = json.dumps(payload, indent=1, default=str)
    if dest == "-":
        print(text)
        return
    path = Path(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def run_cli(prog: str, main: Callable[[Sequence[str] | None], int | None],
            argv: Sequence[str] | None = None) -> int:
    """Run a command's ``main`` with the shared exit codes and one-line errors."""
    try:
        code = main(argv)
    except MtlError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if code is None else int(code)
