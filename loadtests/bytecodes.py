"""Bytecodes per request, by component and by function: where a variant's extra work over bare
goes, counted bytecode by bytecode (``make bench-bytecodes``).

``make bench-instructions`` counts every machine instruction of a request (callgrind): one
steady total per variant, but not where in the Python it goes. This counts the Python
bytecodes each function executes while the app serves requests through its WSGI application
(``sys.settrace`` with per-opcode events, on the request thread), for bare and each chosen
variant, in the same environments and on the same seeded database as ``bench-instructions``.
A variant's count minus bare's, function by function, is what its telemetry adds to a request;
grouped by component (``app/telemetry/prometheus``, ``opentelemetry``, ``django``...), it is
the cost of each part. Counts barely move between runs of the same code (trace ids are seeded,
so project@10% samples the same requests; in two runs the project variants' counts on create
were equal and bare's differed by 16 of 58,400), and the machine's load does not change them.

What it does not see: work in C (orjson, the memoryview writes, system calls) beyond the
bytecodes that call it, and other threads (the span exporter's thread; spans wait in its
queue until the end of a run here, as in ``bench-instructions``). A bytecode of one function
can cost far more than one of another; on this project's create, project@10% ran 5.9% more
bytecodes than bare where its paired CPU ratio read 0.93-0.94, so the count tracks the cost
closely enough to say where it is.
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from loadtests import bench, instructions, sinks
from loadtests.local_server import REPO, run_python

DEFAULT_WARMUP = 30
DEFAULT_REQUESTS = 100
TOP_FUNCTIONS = 25
_STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
_PACKAGES = "site-packages"


def component(filename: str) -> str:
    """The part of the code a file belongs to: ``app/telemetry/prometheus`` (the project's
    own modules, by their first three path parts), ``opentelemetry`` (an installed package),
    ``stdlib``, or the file name itself when it is none of these."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>...
        return "stdlib" if filename.startswith("<frozen") else filename
    path = Path(filename)
    parts = path.parts
    if _PACKAGES in parts:
        package = parts[parts.index(_PACKAGES) + 1 :]
        return package[0] if package else filename
    try:
        relative = path.resolve().relative_to(REPO)
    except ValueError:
        pass
    else:
        return "/".join(relative.with_suffix("").parts[:3])
    if path.resolve().is_relative_to(_STDLIB):
        return "stdlib"
    return filename


def function_name(code: CodeType) -> str:
    """``component:qualified name`` of a function (``app/telemetry/access:RequestTelemetry...``)."""
    return f"{component(code.co_filename)}:{code.co_qualname}"


def count_bytecodes(serve: Any) -> Counter[CodeType]:
    """Bytecodes executed per code object while ``serve()`` runs on this thread; the thread's
    trace function before (coverage's, a debugger's) is set again after."""
    counts: Counter[CodeType] = Counter()

    def trace(frame: FrameType, event: str, _: Any) -> Any:
        if event == "call":
            frame.f_trace_opcodes = True
            frame.f_trace_lines = False
        elif event == "opcode":
            counts[frame.f_code] += 1
        return trace

    previous = sys.gettrace()  # a coverage or debugger tracer, given back after
    sys.settrace(trace)
    try:
        serve()
    finally:
        sys.settrace(previous)
    return counts


def per_request(counts: Mapping[CodeType, int], requests: int) -> dict[str, float]:
    """Bytecodes per request by function name (functions of one name added together)."""
    totals: Counter[str] = Counter()
    for code, count in counts.items():
        totals[function_name(code)] += count
    return {name: count / requests for name, count in sorted(totals.items())}


def child(endpoint: str, warmup: str, requests: str, output: str) -> int:
    """The measured process (``--child ENDPOINT WARMUP REQUESTS OUTPUT``): serve ``warmup``
    requests, then count ``requests`` more, and write the counts per request as JSON."""
    measured = instructions.measured_app()
    measured.serve(endpoint, int(warmup))
    counts = count_bytecodes(lambda: measured.serve(endpoint, int(requests)))
    Path(output).write_text(json.dumps(per_request(counts, int(requests))))
    instructions.flush_telemetry()
    return 0


def by_component(functions: Mapping[str, float]) -> dict[str, float]:
    """Bytecodes per request by component (the part of a function name before ``:``)."""
    totals: dict[str, float] = {}
    for name, count in functions.items():
        part = name.partition(":")[0]
        totals[part] = totals.get(part, 0.0) + count
    return totals


def differences(variant: Mapping[str, float], bare: Mapping[str, float]) -> dict[str, float]:
    """What ``variant`` runs beyond ``bare``, key by key (negative where it runs less),
    largest first; keys equal in both are left out."""
    differences = {key: variant.get(key, 0.0) - bare.get(key, 0.0) for key in {*variant, *bare}}
    return dict(
        sorted(
            ((key, value) for key, value in differences.items() if value),
            key=lambda item: (-abs(item[1]), item[0]),
        )
    )


def report(name: str, variant: Mapping[str, float], bare: Mapping[str, float]) -> dict[str, Any]:
    """One variant against bare: totals, ratio, and the extra bytecodes by component and by
    function."""
    total, bare_total = sum(variant.values()), sum(bare.values())
    components = differences(by_component(variant), by_component(bare))
    return {
        "variant": name,
        "bytecodes_per_request": round(total, 1),
        "bare_bytecodes_per_request": round(bare_total, 1),
        "ratio": round(bare_total / total, 4) if total else None,
        "extra_by_component": {k: round(v, 1) for k, v in components.items()},
        "extra_by_function": {k: round(v, 1) for k, v in differences(variant, bare).items()},
    }


def lines(found: Mapping[str, Any], top: int = TOP_FUNCTIONS) -> list[str]:
    """A report as text: totals, every component, the ``top`` functions."""
    extra_total = found["bytecodes_per_request"] - found["bare_bytecodes_per_request"]
    text = [
        f"{found['variant']}: {found['bytecodes_per_request']:,.0f} bytecodes a request, bare "
        f"{found['bare_bytecodes_per_request']:,.0f} (bare / variant {found['ratio']:.3f}; "
        f"{extra_total:+,.0f})",
        f"  {'by component':<48} {'extra':>9}",
    ]
    text += [f"  {k:<48} {v:>+9,.1f}" for k, v in found["extra_by_component"].items()]
    text.append(f"  {f'top {top} functions':<78} {'extra':>9}")
    functions = list(found["extra_by_function"].items())[:top]
    text += [f"  {k[:78]:<78} {v:>+9,.1f}" for k, v in functions]
    return text


def measure(
    env: Mapping[str, str], endpoint: str, *, warmup: int, requests: int
) -> dict[str, float]:
    """Bytecodes per request by function, from a process of its own serving ``endpoint`` on a
    fresh copy of the seeded database (so every endpoint starts from the same rows)."""
    with instructions.on_database_copy(env) as run_env:
        output = Path(run_env["DATABASE_URL"].removeprefix("sqlite:///")).with_suffix(".json")
        result = run_python(
            ["-m", "loadtests.bytecodes", "--child", endpoint, str(warmup), str(requests),
             str(output)],
            run_env,
            timeout=1800,
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(f"{endpoint} failed:\n{result.stderr[-3000:]}")
        counted: dict[str, float] = json.loads(output.read_text())
    return counted


def parse_args(argv: Sequence[str], variants: Sequence[bench.Variant]) -> argparse.Namespace:
    """The driver's options."""
    parser = instructions.selection_parser(__doc__.split("\n\n")[0], variants, ["create"])
    parser.set_defaults(variants=["project@100%", "project@10%"])
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="requests, uncounted")
    parser.add_argument("--requests", type=int, default=DEFAULT_REQUESTS, help="requests counted")
    parser.add_argument("--top", type=int, default=TOP_FUNCTIONS, help="functions listed")
    parser.add_argument(
        "--output", type=Path, default=bench.RESULTS / "bytecodes.json", help="the JSON results"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Count bare and every chosen variant on every chosen endpoint; print and save."""
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--child"]:
        return child(*arguments[1:])
    variants = bench.build_variants(bench.production_sampler_ratio())
    options = parse_args(arguments, variants)
    chosen = bench.select_variants(variants, options.variants)
    sink = sinks.start_sink()
    reports: dict[str, list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bytecodes-") as workdir:
            envs = {
                v.name: instructions.prepared_environment(v, Path(workdir), sink) for v in chosen
            }
            counts = {"warmup": options.warmup, "requests": options.requests}
            for endpoint in options.endpoints:
                counted = {name: measure(env, endpoint, **counts) for name, env in envs.items()}
                bare = counted[bench.BASELINE]
                reports[endpoint] = [
                    report(name, found, bare)
                    for name, found in counted.items()
                    if name != bench.BASELINE
                ]
                for found in reports[endpoint]:
                    bench.say(f"--- {endpoint}")
                    for line in lines(found, options.top):
                        bench.say(line)
    finally:
        sink.shutdown()
    instructions.save_results(
        options.output,
        {"warmup": options.warmup, "requests": options.requests, "endpoints": reports},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
