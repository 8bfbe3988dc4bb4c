"""The Locust-facing modules, checked in a subprocess: importing Locust monkey-patches the
process with gevent, which must never happen inside the pytest process."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from loadtests.gate import Measured
from loadtests.schedules import SHAPE_NAMES, ShapeSettings, build_schedule
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
    "loadtests.exports",
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
    assert locustfile_classes() == "['TodoApiUser', 'TodoGraphQLUser'] ['SmokeShape']"
    assert (
        locustfile_classes(env={"LOAD_SHAPE": "incident"})
        == "['TodoApiUser', 'TodoGraphQLUser'] ['IncidentShape']"
    )
    assert (
        locustfile_classes(argv=("--shape", "ramp"), env={"LOAD_SHAPE": "spike"})
        == "['TodoApiUser', 'TodoGraphQLUser'] ['RampShape']"
    )
    assert locustfile_classes(env={"LOAD_SHAPE": "none"}) == "['TodoApiUser', 'TodoGraphQLUser'] []"


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


def test_every_shape_reads_locusts_users_spawn_rate_and_run_time() -> None:
    output = python(
        """
        import json
        from types import SimpleNamespace
        from loadtests.shapes import SHAPES
        result = {}
        for name, shape_class in SHAPES.items():
            shape = shape_class()
            options = SimpleNamespace(num_users=3, spawn_rate=2.0, run_time=12, ramp_steps=None)
            environment = SimpleNamespace(parsed_options=options)
            shape.runner = SimpleNamespace(environment=environment)
            shape.fault_switch = lambda: None  # the incident shape's API calls are not tested here
            ticks = []
            for elapsed in (0, 11.9, 12):
                shape.get_run_time = lambda elapsed=elapsed: elapsed
                ticks.append(shape.tick())
            options.num_users, options.run_time = 9, 30  # the web UI's form, before a new run
            shape.reset_time()
            shape.get_run_time = lambda: 29.9
            ticks.append(shape.tick())
            result[name] = [shape_class.use_common_options, ticks]
        print(json.dumps(result))
        """
    )

    result = json.loads(output)
    for name, (uses_common_options, ticks) in result.items():
        assert uses_common_options is True, name
        first_run = build_schedule(name, ShapeSettings(users=3, spawn_rate=2.0, duration=12))
        second_run = build_schedule(name, ShapeSettings(users=9, spawn_rate=2.0, duration=30))
        expected = [first_run.tick(0), first_run.tick(11.9), None, second_run.tick(29.9)]
        assert [tuple(tick) if tick else None for tick in ticks] == expected, name


JUDGE_RUN = """
    import io, json, sys
    from types import SimpleNamespace
    from locust import events
    from locust.env import Environment
    from loadtests.judge import Judge
    from loadtests.users import TodoApiUser

    options = SimpleNamespace(headless={headless}, csv_prefix={prefix!r}, p99_ms=100.0)
    environment = Environment(user_classes=[TodoApiUser], events=events, parsed_options=options)
    runner = environment.create_local_runner()
    out = io.StringIO()
    judge = Judge("smoke", out=out)
    judge.register(environment)

    def request(name, ms, exception=None):
        events.request.fire(request_type="GET", name=name, response_time=ms, response_length=0,
                            exception=exception, context={{}})

    seen = []
    for run, ms in enumerate((20, 900)):  # two runs, as started and stopped from the web UI
        runner.state = "running"
        runner.stats.reset_all()
        request("setup: /api/auth/token/", 5000)
        for _ in range(10):
            request("/api/todos/", ms)
        runner.stop()
        seen.append(out.getvalue().count("VERDICT:"))
    if {interrupted}:  # Ctrl-C during a third run: Locust fires quitting before it stops
        events.test_start.fire(environment=environment)
        runner.stats.reset_all()
        request("/api/todos/", 30, exception=ConnectionError("refused"))
    events.quitting.fire(environment=environment)
    if {interrupted}:
        runner.state = "running"
        runner.stop()
    events.quit.fire(exit_code=environment.process_exit_code)
    print(json.dumps({{"printed": seen, "after_quit": out.getvalue().count("VERDICT:"),
                      "exit_code": environment.process_exit_code, "text": out.getvalue(),
                      "latest": judge.latest.text}}))
"""


def test_the_gate_judges_and_stores_a_verdict_on_every_test_stop(tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    code = JUDGE_RUN.format(headless=False, prefix=str(prefix), interrupted=False)

    result = json.loads(python(code))

    assert result["printed"] == [1, 2]  # one verdict printed as each run stopped
    assert result["after_quit"] == 2  # quitting printed nothing new
    assert result["text"].count("VERDICT: PASS") == 1
    assert "violated: p99 latency: measured 900 ms, limit 100 ms" in result["latest"]
    assert result["exit_code"] == 1  # the last run's verdict
    stored = Path(f"{prefix}_verdict.txt").read_text()
    assert stored == result["latest"] + "\n"
    assert "measured 10 requests (not counted: 1 setup/control requests)" in stored


def test_headless_the_verdict_is_printed_once_after_locusts_summary(tmp_path: Path) -> None:
    result = json.loads(python(JUDGE_RUN.format(headless=True, prefix="", interrupted=False)))

    assert result["printed"] == [0, 0]  # judged at each stop, printed at quit
    assert result["after_quit"] == 1
    assert result["exit_code"] == 1
    assert not list(tmp_path.iterdir())  # no --csv: nothing stored on disk


def test_a_run_interrupted_by_ctrl_c_is_judged_before_locust_decides_its_exit_code() -> None:
    result = json.loads(python(JUDGE_RUN.format(headless=True, prefix="", interrupted=True)))

    assert "measured 1 requests" in result["latest"]  # the third run, not the second
    assert "violated: failure ratio: measured 1" in result["latest"]
    assert result["after_quit"] == 1  # printed once, at quit
    assert result["exit_code"] == 1


def test_the_account_pool_is_no_larger_than_the_runs_users() -> None:
    output = python(
        """
        from types import SimpleNamespace
        from loadtests.options import load_options
        from loadtests.users import pool_size
        for users in (2, 50, None):
            print(pool_size(load_options(SimpleNamespace(num_users=users, accounts=10))))
        """
    )

    assert output.split() == ["2", "10", "10"]
