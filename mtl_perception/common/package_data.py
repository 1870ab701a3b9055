"""Where the package's installed data lives: config, recipes, the demo model, message files.

Why: the same code runs from a colcon workspace, a ``pip install`` (into a venv or a
``--prefix``), and the development venv that ``make setup`` turns into an ament prefix. Each
of them installs the data under ``<prefix>/share/mtl_perception``; none of them may rely on a
source checkout beside the code. The lookup order is:

1. the ament index (``AMENT_PREFIX_PATH``), as ``ros2 launch`` and ``ros2 run`` see it;
2. the installed distribution's own file list (``importlib.metadata``), which pip records for
   every data file, wherever its prefix is;
3. ``<sys.prefix>/share/mtl_perception``, for a venv that holds the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mtl_perception.common.errors import MtlError

PACKAGE = "mtl_perception"
SHARE_MARKER = "package.xml"


class PackageDataError(MtlError, RuntimeError):
    """A data file the package ships cannot be found: the install is incomplete."""


def _from_ament_index() -> Path | None:
    try:
        from ament_index_python.packages import (
            PackageNotFoundError,
            get_package_share_directory,
        )
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE))
    except (PackageNotFoundError, LookupError, ValueError, OSError):
        # ament_index_python raises EnvironmentError/LookupError without AMENT_PREFIX_PATH
        return None


def _from_distribution() -> Path | None:
    try:
        from importlib.metadata import PackageNotFoundError, distribution
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        dist = distribution(PACKAGE)
    except PackageNotFoundError:
        return None
    wanted = f"share/{PACKAGE}/{SHARE_MARKER}"
    for record in dist.files or ():
        if record.as_posix().endswith(wanted):
            return Path(str(dist.locate_file(record))).resolve().parent
    return None


def _from_sys_prefix() -> Path | None:
    return Path(sys.prefix) / "share" / PACKAGE


def share_dir() -> Path:
    """The installed ``share/mtl_perception`` folder (the first lookup that has one)."""
    for lookup in (_from_ament_index, _from_distribution, _from_sys_prefix):
        found = lookup()
        if found is not None and (found / SHARE_MARKER).is_file():
            return found
    raise PackageDataError(
        f"cannot find share/{PACKAGE}: install the package (pip install ., colcon build, or "
        f"make setup) or put its prefix on AMENT_PREFIX_PATH")


def data_path(*parts: str) -> Path:
    """A file or folder under ``share/mtl_perception``; one clear error when it is missing."""
    root = share_dir()
    path = root.joinpath(*parts)
    if not path.exists():
        raise PackageDataError(
            f"{'/'.join(parts)} is missing from {root}: the install is incomplete; reinstall "
            f"the package")
    return path


def optional_data_path(*parts: str) -> Path | None:
    """Like :func:`data_path`, but None where the package or the file is not installed."""
    try:
        return data_path(*parts)
    except PackageDataError:
        return None
