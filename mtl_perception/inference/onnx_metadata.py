"""Read an ONNX file's ``metadata_props`` without the onnx package or onnxruntime.

On a Jetson the TensorRT backend may be the only runtime installed, yet it still needs the
ModelSpec stored in the ONNX file before building an engine. ``metadata_props`` is a
top-level field of ``ModelProto``, so a few lines of protobuf wire-format walking find it
while skipping the (large) graph by its length prefix.
"""

from __future__ import annotations

from pathlib import Path

from mtl_perception.inference.model_spec import METADATA_KEY, ModelSpec, ModelSpecError

# ModelProto.metadata_props: repeated StringStringEntryProto {1: key, 2: value}
_METADATA_PROPS = 14


def _varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ModelSpecError("ONNX file is truncated (varint runs past the end)")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ModelSpecError("ONNX file is not a protobuf (varint too long)")


def _fields(buf: bytes | memoryview) -> list[tuple[int, int, int | memoryview]]:
    """Top-level (field number, wire type, value) triples of a protobuf message."""
    view = memoryview(buf)
    out: list[tuple[int, int, int | memoryview]] = []
    pos = 0
    while pos < len(view):
        tag, pos = _varint(view, pos)
        number, wire = tag >> 3, tag & 7
        value: int | memoryview
        if wire == 0:
            value, pos = _varint(view, pos)
        elif wire == 1:
            value, pos = 0, pos + 8
        elif wire == 2:
            length, pos = _varint(view, pos)
            if pos + length > len(view):
                raise ModelSpecError("ONNX file is truncated (field runs past the end)")
            value, pos = view[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = 0, pos + 4
        else:
            raise ModelSpecError(f"ONNX file is not a protobuf (wire type {wire})")
        out.append((number, wire, value))
    return out


def read_metadata_props(path: str | Path) -> dict[str, str]:
    """All ``metadata_props`` of an ONNX model as a dict."""
    data = Path(path).read_bytes()
    props: dict[str, str] = {}
    for number, wire, value in _fields(data):
        if number != _METADATA_PROPS or wire != 2 or not isinstance(value, memoryview):
            continue
        entry = {n: v for n, w, v in _fields(value) if w == 2 and isinstance(v, memoryview)}
        key = bytes(entry.get(1, b"")).decode("utf-8", "replace")
        props[key] = bytes(entry.get(2, b"")).decode("utf-8", "replace")
    return props


def read_model_spec(path: str | Path) -> ModelSpec:
    """The model's :class:`ModelSpec` from its ONNX metadata, or ModelSpecError saying why."""
    props = read_metadata_props(path)
    if METADATA_KEY not in props:
        raise ModelSpecError(
            f"{path} has no '{METADATA_KEY}' metadata; export it with mtl-export "
            f"(found keys: {sorted(props) or 'none'})"
        )
    return ModelSpec.from_json(props[METADATA_KEY])
