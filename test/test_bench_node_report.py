"""mtl-bench node's report: the side-by-side comparison tables and the CLI switches."""

from __future__ import annotations

import pytest

from mtl_perception.tools import bench_node


def _overhead(overhead: float, backend: float, e2e: float, delivered: float, cpu: float,
              publish: float) -> dict:
    return {"frames": 100, "node_overhead_ms_p50": overhead, "backend_ms_p50": backend,
            "end_to_end_ms_p50": e2e, "delivered_latency_ms_p50": delivered,
            "node_cpu_percent": cpu, "stages_ms_p50": {"publish": publish, "queue": 0.1},
            "overhead_percent_of_backend": 100 * overhead / backend,
            "meets_target": overhead <= 3.0}


def test_spinning_comparison_table_and_ratios() -> None:
    on = _overhead(2.8, 42.0, 45.0, 87.0, 60.0, 1.5)
    off = _overhead(2.4, 46.0, 48.6, 91.4, 42.0, 1.2)
    result = {"model": "/m/model.onnx", "input": "1280x720 bgr8", "overhead": on,
              "rates": [], "spinning": "on", "by_spinning": {"on": on, "off": off}}
    text = bench_node.to_markdown(result, "mtl-bench node --compare-spinning")
    assert "thread spinning on." in text
    assert "| on | 2.80 | 1.50 | 42.0 | 45.0 | 87.0 | 60 |" in text
    assert "| off | 2.40 | 1.20 | 46.0 | 48.6 | 91.4 | 42 |" in text
    assert ("Ratio off / on: overhead 0.86, end-to-end 1.08, delivered latency 1.05, "
            "CPU 0.70.") in text
    assert "**2.80 ms**" in text and "met" in text


def test_spinning_switch_parses_on_and_off_only() -> None:
    parser = bench_node.build_parser()
    assert parser.parse_args([]).spinning is True
    assert parser.parse_args(["--spinning", "off", "--compare-spinning"]).spinning is False
    with pytest.raises(SystemExit):
        parser.parse_args(["--spinning", "maybe"])
