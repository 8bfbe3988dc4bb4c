"""The bytecode counts (loadtests/bytecodes.py): exact per function, grouped by component, and
a live run that finds the project's telemetry where it is."""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from loadtests import bytecodes
from loadtests.bytecodes import by_component, component, count_bytecodes, differences, report
from loadtests.local_server import REPO, run_python


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        (str(REPO / "app" / "telemetry" / "prometheus" / "values.py"), "app/telemetry/prometheus"),
        (str(REPO / "app" / "telemetry" / "access.py"), "app/telemetry/access"),
        ("/v/lib/python3.11/site-packages/opentelemetry/sdk/trace/__init__.py", "opentelemetry"),
        ("/v/lib/python3.11/site-packages/django/db/models/query.py", "django"),
        (sysconfig.get_paths()["stdlib"] + "/json/decoder.py", "stdlib"),
        ("<frozen importlib._bootstrap>", "stdlib"),
        ("<string>", "<string>"),
    ],
)
def test_a_file_belongs_to_a_component(filename: str, expected: str) -> None:
    assert component(filename) == expected


def _loop(times: int) -> int:
    total = 0
    for number in range(times):
        total += number
    return total


def test_the_count_is_exact_and_grows_with_the_work_done() -> None:
    def counted(times: int) -> int:
        counts = count_bytecodes(lambda: _loop(times))
        return sum(n for code, n in counts.items() if code is _loop.__code__)

    ten, twenty = counted(10), counted(20)

    assert ten == counted(10)  # the same every time
    assert twenty > ten
    assert twenty - ten == counted(30) - twenty  # each turn of the loop costs the same


def test_the_trace_function_before_is_set_again_after() -> None:
    def tracer(frame: object, event: str, arg: object) -> None:
        return None

    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        count_bytecodes(lambda: _loop(3))
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(before)


def test_differences_are_largest_first_leaving_out_what_is_equal() -> None:
    variant = {"a:f": 10.0, "b:g": 3.0, "c:h": 5.0}
    bare = {"a:f": 4.0, "c:h": 5.0, "d:k": 8.0}

    assert list(differences(variant, bare).items()) == [("d:k", -8.0), ("a:f", 6.0), ("b:g", 3.0)]
    assert by_component({"a:f": 1.0, "a:g": 2.0, "b:h": 4.0}) == {"a": 3.0, "b": 4.0}


def test_a_report_gives_totals_ratio_and_extra_by_component_and_function() -> None:
    found = report("project@10%", {"m:f": 60.0, "m:g": 40.0}, {"m:f": 50.0, "n:h": 30.0})

    assert found["bytecodes_per_request"] == 100.0
    assert found["ratio"] == 0.8
    assert found["extra_by_component"] == {"m": 50.0, "n": -30.0}
    assert found["extra_by_function"] == {"m:g": 40.0, "n:h": -30.0, "m:f": 10.0}
    assert "bare / variant 0.800" in bytecodes.lines(found)[0]


def test_a_live_run_finds_the_telemetrys_work_in_its_own_components(tmp_path: Path) -> None:
    output = tmp_path / "bytecodes.json"

    result = run_python(
        [
            "-m", "loadtests.bytecodes", "--variants", "project@10%", "--endpoints", "create",
            "--warmup", "3", "--requests", "6", "--output", str(output),
        ],
        dict(os.environ),
        timeout=600,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    (found,) = json.loads(output.read_text())["endpoints"]["create"]
    assert found["variant"] == "project@10%"
    assert 0.5 < found["ratio"] < 1.0  # the telemetry adds work, and not twice bare's
    components = found["extra_by_component"]
    for part in ("app/telemetry/prometheus", "app/telemetry/access", "app/telemetry/tracing"):
        assert components[part] > 0, components
    assert any(name.startswith("app/telemetry/") for name in found["extra_by_function"])
