"""Engine cache: keys, sidecar round-trip, stale/incompatible detection, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mtl_perception.inference.backends.tensorrt import engine_cache as ec
from mtl_perception.inference.backends.tensorrt.engine_cache import EngineCache, EngineKey, Sidecar
from mtl_perception.inference.model_spec import ModelSpec

SHA_A = "a" * 64
SHA_B = "b" * 64
SPEC = ModelSpec(
    input_height=384,
    input_width=640,
    detection_classes=("car", "person"),
    recipe_name="mobilenetv2_bifpn",
    recipe_sha256="c" * 64,
    checkpoint_sha256="d" * 64,
)


def key(**over: object) -> EngineKey:
    base: dict[str, object] = {
        "onnx_sha256": SHA_A,
        "precision": "fp16",
        "trt_version": "8.5.2.2",
        "gpu_name": "Xavier",
    }
    base.update(over)
    return EngineKey(**base)  # type: ignore[arg-type]


def test_key_digest_is_stable_and_depends_on_every_field() -> None:
    assert key().digest() == key().digest()
    variants = [
        key(onnx_sha256=SHA_B),
        key(precision="int8"),
        key(trt_version="8.6.1"),
        key(gpu_name="Orin"),
        key(dla_core=0),
        key(max_batch=4),
    ]
    digests = {key().digest(), *(k.digest() for k in variants)}
    assert len(digests) == 1 + len(variants)
    assert "maximum batch changed (1 -> 4)" in key(max_batch=4).differences(key())


def test_key_digest_without_max_batch_is_the_one_older_caches_wrote() -> None:
    import hashlib
    import json
    from dataclasses import asdict

    old = {k: v for k, v in asdict(key()).items() if k != "max_batch"}
    blob = json.dumps(old, sort_keys=True).encode()
    assert key().digest() == hashlib.sha256(blob).hexdigest()[:16]


def test_key_rejects_bad_precision_and_short_hash() -> None:
    with pytest.raises(ValueError, match="precision"):
        key(precision="fp8")
    with pytest.raises(ValueError, match="sha256"):
        key(onnx_sha256="abc")


def test_sidecar_round_trip_keeps_key_and_spec() -> None:
    sidecar = Sidecar(
        key=key(dla_core=1),
        spec=SPEC,
        engine_file="m.engine",
        engine_sha256="e" * 64,
        engine_bytes=123,
        model_name="m",
        build={"workspace_mb": 512},
    )
    back = Sidecar.from_json(sidecar.to_json())
    assert back.key == sidecar.key
    assert back.spec == SPEC
    assert back.build == {"workspace_mb": 512}
    assert (back.engine_bytes, back.engine_sha256) == (123, "e" * 64)


def test_sidecar_with_edited_key_is_rejected() -> None:
    sidecar = Sidecar(key(), SPEC, "m.engine", "e" * 64, 1, "m")
    doc = json.loads(sidecar.to_json())
    doc["key"]["gpu_name"] = "Orin"  # digest no longer matches
    with pytest.raises(ec.EngineCacheError, match="digest"):
        Sidecar.from_json(json.dumps(doc))


def test_store_then_lookup_hits(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.lookup("m", key()).status == "missing"
    stored = cache.store("m", key(), b"plan-bytes", SPEC)
    found = cache.lookup("m", key())
    assert found.hit and found.engine_path == stored.engine_path
    assert found.engine_path.read_bytes() == b"plan-bytes"
    assert found.sidecar is not None and found.sidecar.spec == SPEC
    assert not list(tmp_path.glob(".*.tmp")), "temporary files left behind"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"trt_version": "8.6.1.6"}, "TensorRT changed (8.5.2.2 -> 8.6.1.6)"),
        ({"gpu_name": "Orin"}, "GPU changed ('Xavier' -> 'Orin')"),
        ({"onnx_sha256": SHA_B}, "ONNX file changed (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb)"),
    ],
)
def test_changed_key_is_stale_with_reason(tmp_path: Path, change: dict, reason: str) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", key(), b"old", SPEC)
    result = cache.lookup("m", key(**change))
    assert result.status == "stale"
    assert reason in result.reason


def test_rebuild_replaces_stale_entry_but_keeps_other_slots(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", key(), b"old", SPEC)
    cache.store("m", key(dla_core=0), b"dla", SPEC)
    cache.store("m", key(precision="int8"), b"int8", SPEC)
    cache.store("m", key(trt_version="8.6.1"), b"new", SPEC)
    assert cache.lookup("m", key()).status == "stale"  # pruned: one engine per slot
    assert cache.lookup("m", key(trt_version="8.6.1")).hit
    assert cache.lookup("m", key(dla_core=0)).hit
    assert cache.lookup("m", key(precision="int8")).hit
    assert len(list(tmp_path.glob("*.engine"))) == 3


def test_truncated_engine_is_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    stored = cache.store("m", key(), b"0123456789", SPEC)
    stored.engine_path.write_bytes(b"01234")
    result = cache.lookup("m", key())
    assert result.status == "stale" and "truncated" in result.reason


def test_corrupted_engine_same_size_is_stale(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    stored = cache.store("m", key(), b"0123456789", SPEC)
    stored.engine_path.write_bytes(b"9876543210")
    result = cache.lookup("m", key())
    assert result.status == "stale" and "checksum" in result.reason


def test_garbage_sidecar_is_stale_not_a_crash(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    stored = cache.store("m", key(), b"x", SPEC)
    stored.sidecar_path.write_text("{not json")
    result = cache.lookup("m", key())
    assert result.status == "stale" and "unreadable" in result.reason


def test_invalidate_removes_entry(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store("m", key(), b"x", SPEC)
    cache.invalidate("m", key())
    assert cache.lookup("m", key()).status == "missing"


def test_default_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ec.CACHE_ENV, str(tmp_path / "c"))
    assert ec.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(ec.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert ec.default_cache_dir() == tmp_path / "mtl_perception" / "engines"


def test_timing_and_calibration_cache_paths_separate_versions(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    assert cache.timing_cache_path("8.5.2", "Xavier") != cache.timing_cache_path("8.6.1", "Xavier")
    assert cache.timing_cache_path("8.5.2", "Xavier") != cache.timing_cache_path("8.5.2", "Orin")
    assert cache.calibration_cache_path(SHA_A, "8.5") != cache.calibration_cache_path(SHA_B, "8.5")


def test_file_sha256_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    data = bytes(range(256)) * 10000
    (tmp_path / "f").write_bytes(data)
    assert ec.file_sha256(tmp_path / "f") == hashlib.sha256(data).hexdigest()
