"""TensorRT engine cache: which engine belongs to which ONNX file, GPU and TensorRT version.

An engine plan only loads on the TensorRT version and GPU it was built for, so engines are
cached under a key of (ONNX sha256, precision, TensorRT version, GPU name, DLA core). The
node and ``mtl-build-engine`` share this module: an engine is built once and reused on every
start, and a stale one (the ONNX file, TensorRT or the GPU changed) is rebuilt with a reason.

Nothing here needs a GPU or TensorRT; callers pass the TensorRT version and GPU name in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mtl_perception.common.atomic_files import (
    atomic_write_bytes,
    atomic_write_text,
    file_sha256,
)
from mtl_perception.common.errors import MtlError
from mtl_perception.inference.model_spec import ModelSpec, ModelSpecError

SIDECAR_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
CACHE_ENV = "MTL_ENGINE_CACHE"


class EngineCacheError(MtlError, RuntimeError):
    """The cache directory or an entry in it cannot be used (message says why)."""


def default_cache_dir() -> Path:
    """``$MTL_ENGINE_CACHE``, else ``$XDG_CACHE_HOME/mtl_perception/engines`` (~/.cache)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mtl_perception" / "engines"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine plan depends on; any change means the engine must be rebuilt."""

    onnx_sha256: str
    precision: str
    trt_version: str
    gpu_name: str
    dla_core: int = -1  # -1 = GPU
    max_batch: int = 1  # optimization profile maximum (dynamic-batch ONNX files only)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if len(self.onnx_sha256) != 64:
            raise ValueError("onnx_sha256 must be a full 64-hex-digit sha256")

    def digest(self) -> str:
        """Short stable id of the key, used in file names."""
        fields = asdict(self)
        if fields["max_batch"] == 1:  # keys written before max_batch existed keep their id
            del fields["max_batch"]
        blob = json.dumps(fields, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def differences(self, other: EngineKey) -> list[str]:
        """Human-readable reasons why an engine built for ``other`` does not fit ``self``."""
        reasons = []
        if other.onnx_sha256 != self.onnx_sha256:
            reasons.append(
                f"ONNX file changed (sha256 {other.onnx_sha256[:12]} -> {self.onnx_sha256[:12]})"
            )
        if other.trt_version != self.trt_version:
            reasons.append(f"TensorRT changed ({other.trt_version} -> {self.trt_version})")
        if other.gpu_name != self.gpu_name:
            reasons.append(f"GPU changed ({other.gpu_name!r} -> {self.gpu_name!r})")
        if other.precision != self.precision:
            reasons.append(f"precision changed ({other.precision} -> {self.precision})")
        if other.dla_core != self.dla_core:
            reasons.append(f"DLA core changed ({other.dla_core} -> {self.dla_core})")
        if other.max_batch != self.max_batch:
            reasons.append(f"maximum batch changed ({other.max_batch} -> {self.max_batch})")
        return reasons


@dataclass
class Sidecar:
    """The JSON written next to an engine: its key, its integrity and the model's spec."""

    key: EngineKey
    spec: ModelSpec
    engine_file: str
    engine_sha256: str
    engine_bytes: int
    model_name: str
    built_at: float = field(default_factory=time.time)
    build: dict[str, Any] = field(default_factory=dict)
    sidecar_version: int = SIDECAR_VERSION

    def to_json(self) -> str:
        doc = {
            "sidecar_version": self.sidecar_version,
            "key": asdict(self.key),
            "key_digest": self.key.digest(),
            "engine_file": self.engine_file,
            "engine_sha256": self.engine_sha256,
            "engine_bytes": self.engine_bytes,
            "model_name": self.model_name,
            "built_at": self.built_at,
            "build": self.build,
            "model_spec": json.loads(self.spec.to_json()),
        }
        return json.dumps(doc, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Sidecar:
        try:
            doc = json.loads(text)
            version = int(doc.get("sidecar_version", 0))
            if version > SIDECAR_VERSION:
                raise EngineCacheError(
                    f"sidecar format {version} is newer than this mtl_perception "
                    f"understands ({SIDECAR_VERSION})"
                )
            key = EngineKey(**doc["key"])
            if doc.get("key_digest") not in (None, key.digest()):
                raise EngineCacheError("sidecar key digest does not match its key")
            return cls(
                key=key,
                spec=ModelSpec.from_dict(doc["model_spec"]),
                engine_file=str(doc["engine_file"]),
                engine_sha256=str(doc["engine_sha256"]),
                engine_bytes=int(doc["engine_bytes"]),
                model_name=str(doc["model_name"]),
                built_at=float(doc.get("built_at", 0.0)),
                build=dict(doc.get("build", {})),
                sidecar_version=version,
            )
        except (EngineCacheError, ModelSpecError):
            raise
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EngineCacheError(f"sidecar is malformed: {exc}") from exc


@dataclass(frozen=True)
class Lookup:
    """Result of a cache lookup. ``status``: ``hit``, ``missing`` or ``stale``.

    ``reason`` is a one-line explanation for anything but a hit, meant for the log.
    """

    status: str
    engine_path: Path
    sidecar_path: Path
    reason: str = ""
    sidecar: Sidecar | None = None

    @property
    def hit(self) -> bool:
        return self.status == "hit"


class EngineCache:
    """A directory of ``<model>-<precision>[-dlaN]-<digest>.engine`` files plus sidecars."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()

    def _stem(self, model_name: str, key: EngineKey) -> str:
        return f"{self._slot(model_name, key)}-{key.digest()}"

    @staticmethod
    def _slot(model_name: str, key: EngineKey) -> str:
        """Entries in one slot replace each other: same model, precision and device."""
        dla = f"-dla{key.dla_core}" if key.dla_core >= 0 else ""
        return f"{_slug(model_name)}-{key.precision}{dla}"

    def _in_slot(self, path: Path, model_name: str, key: EngineKey) -> bool:
        return path.stem.rsplit("-", 1)[0] == self._slot(model_name, key)

    def paths(self, model_name: str, key: EngineKey) -> tuple[Path, Path]:
        stem = self._stem(model_name, key)
        return self.root / f"{stem}.engine", self.root / f"{stem}.json"

    def timing_cache_path(self, trt_version: str, gpu_name: str) -> Path:
        """One timing cache per TensorRT version and GPU: it speeds up every later build."""
        return self.root / f"timing-{_slug(trt_version)}-{_slug(gpu_name)}.cache"

    def calibration_cache_path(self, onnx_sha256: str, trt_version: str) -> Path:
        """Implicit-INT8 scales depend on the network and TensorRT, not on the GPU."""
        return self.root / f"calib-{onnx_sha256[:16]}-{_slug(trt_version)}.cache"

    def lookup(self, model_name: str, key: EngineKey) -> Lookup:
        engine_path, sidecar_path = self.paths(model_name, key)
        if sidecar_path.is_file():
            return self._check_entry(key, engine_path, sidecar_path)
        older = self._same_slot(model_name, key)
        if older:
            reasons = "; ".join(key.differences(older[0].key)) or "key changed"
            return Lookup("stale", engine_path, sidecar_path, f"cached engine is stale: {reasons}")
        return Lookup("missing", engine_path, sidecar_path, f"no cached engine in {self.root}")

    def _check_entry(self, key: EngineKey, engine_path: Path, sidecar_path: Path) -> Lookup:
        def stale(reason: str, sidecar: Sidecar | None = None) -> Lookup:
            return Lookup("stale", engine_path, sidecar_path, reason, sidecar)

        try:
            sidecar = Sidecar.from_json(sidecar_path.read_text())
        except (OSError, EngineCacheError, ModelSpecError) as exc:
            return stale(f"sidecar {sidecar_path.name} unreadable: {exc}")
        if sidecar.key != key:
            return stale("cached engine is stale: " + "; ".join(key.differences(sidecar.key)))
        if not engine_path.is_file():
            return stale(f"engine file {engine_path.name} is missing", sidecar)
        size = engine_path.stat().st_size
        if size != sidecar.engine_bytes:
            return stale(
                f"engine file is truncated or replaced ({size} bytes, sidecar says "
                f"{sidecar.engine_bytes})",
                sidecar,
            )
        if file_sha256(engine_path) != sidecar.engine_sha256:
            return stale("engine file checksum does not match its sidecar", sidecar)
        return Lookup("hit", engine_path, sidecar_path, "", sidecar)

    def _same_slot(self, model_name: str, key: EngineKey) -> list[Sidecar]:
        """Sidecars for the same model and precision built under another key (newest first)."""
        found = []
        for path in self.root.glob(f"{self._slot(model_name, key)}-*.json"):
            if not self._in_slot(path, model_name, key):
                continue
            try:
                sidecar = Sidecar.from_json(path.read_text())
            except (OSError, EngineCacheError, ModelSpecError):
                continue
            old = sidecar.key
            if sidecar.model_name == model_name and (old.precision, old.dla_core) == (
                key.precision,
                key.dla_core,
            ):
                found.append(sidecar)
        return sorted(found, key=lambda s: s.built_at, reverse=True)

    def store(
        self,
        model_name: str,
        key: EngineKey,
        engine: bytes,
        spec: ModelSpec,
        build: dict[str, Any] | None = None,
    ) -> Lookup:
        """Write engine then sidecar atomically (the sidecar commits the entry); drop old ones."""
        engine_path, sidecar_path = self.paths(model_name, key)
        atomic_write_bytes(engine_path, engine)
        sidecar = Sidecar(
            key=key,
            spec=spec,
            engine_file=engine_path.name,
            engine_sha256=hashlib.sha256(engine).hexdigest(),
            engine_bytes=len(engine),
            model_name=model_name,
            build=dict(build or {}),
        )
        atomic_write_text(sidecar_path, sidecar.to_json())
        self._prune(model_name, key, keep=engine_path.stem)
        return Lookup("hit", engine_path, sidecar_path, "", sidecar)

    def invalidate(self, model_name: str, key: EngineKey) -> None:
        """Remove an entry that failed to deserialize, so the next start rebuilds it."""
        for path in self.paths(model_name, key):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _prune(self, model_name: str, key: EngineKey, keep: str) -> None:
        for path in self.root.glob(f"{self._slot(model_name, key)}-*"):
            stale = path.suffix in (".engine", ".json") and path.stem != keep
            if stale and self._in_slot(path, model_name, key):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
