"""docs/benchmarks.md as ``mtl-bench all`` writes it: a header, the sections, link lines.

The generator writes every line of the file; the explanations a reader needs beside the
numbers live in the hand-written ``NOTES`` file, which the header links to, and dated
one-off studies in docs/experiments/.
"""

from __future__ import annotations

NOTES = "benchmarks_notes.md"
TITLE = "# Benchmarks"


def header(command: str) -> list[str]:
    return [TITLE, "",
            f"Written by `{command}`; every line of this file is generated, so edit "
            f"[{NOTES}]({NOTES}) instead. Each section names the command that produced it and "
            "the machine it ran on; absolute timings belong to that machine, ratios and "
            "side-by-side columns are what carry over.", "",
            f"Notes (what each table measures and how to read it): [{NOTES}]({NOTES}).", ""]


def link_section(title: str, target: str, command: str) -> str:
    """A section whose table is in its own generated file, linked from here."""
    return "\n".join([f"## {title}", "", f"In [{target}]({target}), written by `{command}`.",
                      ""])


def render_page(command: str, sections: list[str]) -> str:
    """The whole file: the header, then each section in order."""
    return "\n".join([*header(command), *sections]).rstrip("\n") + "\n"
