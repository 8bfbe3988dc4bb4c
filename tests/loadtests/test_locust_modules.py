"""The Locust-facing modules, checked in a subprocess: importing Locust monkey-patches the
process with gevent, which must never happen inside the pytest process."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from loadtests.gate import Measured
from loadtests.schedules import SHAPE_NAMES, build_schedule
from tests.support.locust_environment import clean_environment
from tests.support.python import run_python

REPO_ROOT = Path(__file__).resolve().parents[2]
PURE_MODULES = (
    "observability.slo",
    "loadtests.schedules",
    "loadtests.mixes",
    "loadtests.options",
    "loadtests.outcomes",
    "loadtests.tokens",
    "loadtests.tracing",
    "loadtests.gate",
)
TIMES = [0, 1, 5, 9.9, 10, 19.9, 20, 29.9, 30, 59, 60, 100, 3599, 3600, 10_000]


def python(code: str, *, env: dict[str, str] | None = None, argv: tuple[str, ...] = ()) -> str:
    """Run ``code`` in a fresh interpreter at the repository root; return its stdout."""
    result = run_python(textwrap.dedent(code), clean_environment(env), argv)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_pure_modules_import_neither_locust_nor_gevent() -> None:
    output = python(
        f"""
        import importlib, sys
        for name in {PURE_MODULES!r}:
            importlib.import_module(name)
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("locust", "gevent")))
        """
    )

    assert output.strip() == "[]"
    assert "locust" not in sys.modules  # nor did anything in this pytest process


def test_each_shape_class_ticks_its_schedule_and_ends_with_none() -> None:
    output = python(
        f"""
        import json
        from loadtests.shapes import SHAPES
        sequences = {{}}
        for name, shape_class in SHAPES.items():
            shape = shape_class()
            ticks = []
            for elapsed in {TIMES!r}:
                shape.get_run_time = lambda elapsed=elapsed: elapsed
                ticks.append(shape.tick())
            sequences[name] = ticks
        print(json.dumps(sequences))
        """
    )

    sequences = json.loads(output)
    assert sorted(sequences) == sorted(SHAPE_NAMES)
    for name, ticks in sequences.items():
        expected = [build_schedule(name).tick(elapsed) for elapsed in TIMES]
        assert [tuple(t) if t else None for t in ticks] == expected, name
        assert ticks[-1] is None, name


def locustfile_classes(*, argv: tuple[str, ...] = (), env: dict[str, str] | None = None) -> str:
    return python(
        """
        import sys
        from locust.util.load_locustfile import load_locustfile
        users, shapes = load_locustfile("loadtests/locustfile.py")
        print(sorted(users), [type(shape).__name__ for shape in shapes])
        """,
        argv=argv,
        env=env,
    ).strip()


def test_the_locustfile_exposes_the_user_and_only_the_chosen_shape() -> None:
    assert locustfile_classes() == "['TodoApiUser'] ['SmokeShape']"
    assert locustfile_classes(env={"LOAD_SHAPE": "incident"}) == "['TodoApiUser'] ['IncidentShape']"
    assert (
        locustfile_classes(argv=("--shape", "ramp"), env={"LOAD_SHAPE": "spike"})
        == "['TodoApiUser'] ['RampShape']"
    )
    assert locustfile_classes(env={"LOAD_SHAPE": "none"}) == "['TodoApiUser'] []"


def test_the_gates_percentiles_match_locusts_own() -> None:
    output = python(
        """
        import json, random
        from locust.stats import calculate_response_time_percentile
        rng = random.Random(7)
        cases = []
        for _ in range(200):
            times = {rng.choice([3, 8, 20, 90, 150, 300, 310, 1200]): rng.randint(1, 50)
                     for _ in range(rng.randint(1, 6))}
            total = sum(times.values())
            q = rng.choice([0.5, 0.9, 0.95, 0.99, 0.999, 1.0])
            cases.append([times, q, calculate_response_time_percentile(times, total, q)])
        print(json.dumps(cases))
        """
    )
    for times, quantile, expected in json.loads(output):
        histogram = {int(key): count for key, count in times.items()}
        measured = Measured(requests=sum(histogram.values()), failures=0, response_times=histogram)
        assert measured.percentile(quantile) == expected, (histogram, quantile)
