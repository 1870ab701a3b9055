"""mtl-bench qos through real Fast DDS: a compatible pair delivers, an incompatible one never
matches, and bad pairs are refused in one line."""

from __future__ import annotations

import pytest

from mtl_perception.devtools.bench import qos as bench_qos


def test_pair_parsing_refuses_bad_pairs() -> None:
    assert bench_qos.Pair.parse("reliable:best_effort:3") == bench_qos.Pair(
        "reliable", "best_effort", 3)
    for bad in ("reliable:best_effort", "reliable:fast:1", "reliable:reliable:0",
                "best_effort:reliable:x"):
        with pytest.raises(ValueError, match="PUB:SUB:DEPTH"):
            bench_qos.Pair.parse(bad)


def test_two_processes_measure_delivery_and_incompatibility() -> None:
    args = bench_qos.build_parser().parse_args([
        "--frames", "10", "--rate", "20", "--size", "360x640",
        "--match-timeout", "4", "--pairs", "reliable:reliable:10", "best_effort:reliable:1",
    ])
    result = bench_qos.run_qos_benchmark(args)
    ok, incompatible = result["rows"]
    assert ok["matched"] and ok["sent"] == 10
    # Reliable with a 10-deep reader: every frame should arrive; a heavily loaded CI machine
    # may still lose a few to the writer's keep-last 5, never most of them.
    assert 5 <= ok["received"] <= 10
    assert ok["latency_p50_ms"] is not None and ok["latency_p50_ms"] > 0
    assert not incompatible["matched"] and incompatible["sent"] == 0
    assert incompatible["received"] == 0
    text = bench_qos.to_markdown(result, "mtl-bench qos ...", "test machine", "now")
    assert f"| {ok['received']}/10 |" in text
    assert "no match (incompatible QoS)" in text
