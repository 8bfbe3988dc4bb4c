"""Modelled CPU cycles per request: instructions, plus what cache misses and mispredicted
branches cost, simulated by valgrind's cachegrind.

``make bench-instructions`` counts instructions, steady on a busy machine, but the telemetry
runs once a request on data the rest of the request has pushed out of the caches: on create
at 10%, 5% more instructions than bare cost 8-10% more CPU time (``make bench``'s paired
ratios, 0.924 over the control and 0.908 against the twin). The VMs expose no cycle or
cache counters (``perf stat`` reads "not supported"), so this driver simulates them: each
variant of ``make bench`` serves one endpoint under ``valgrind --tool=cachegrind
--cache-sim=yes --branch-sim=yes`` (the measured process of ``make bench-instructions``,
short and long run, the difference per extra request), and the events are weighed into
cycles by a fixed model (``CycleModel``): one an instruction, 12 a first-level miss, 50 a miss
of the last level simulated, 20 a mispredicted branch. The last level simulated is a core's
own second-level cache (``--ll-bytes``, by default this machine's L2 from sysfs), not the
large L3 that cachegrind would take by default and in which a request's data always fits.

The figures are a model, not a measurement: the weights are typical latencies, the simulated
caches and predictor simpler than the real ones. What makes them useful is that, like the
instruction counts, they barely move run to run (within about 0.04 M cycles a request),
and that they come nearer ``make bench``'s paired CPU ratios than the instruction ratio does
(README, Performance: off by 0.002-0.037 against 0.014-0.053, still on the high side).
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests import bench, instructions

EVENTS = ("Ir", "I1mr", "ILmr", "Dr", "D1mr", "DLmr", "Dw", "D1mw", "DLmw")
BRANCH_EVENTS = ("Bc", "Bcm", "Bi", "Bim")
L2_SIZE = Path("/sys/devices/system/cpu/cpu0/cache/index2/size")
DEFAULT_LL_BYTES = 2 * 1024 * 1024
LL_WAYS = 16
LINE_BYTES = 64
_SIZE = re.compile(r"^(\d+)([KMG]?)$")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


@dataclass(frozen=True)
class CycleModel:
    """Cycles per event: what an instruction, a miss of each level and a mispredicted
    branch cost (typical latencies of current x86 server cores)."""

    instruction: float = 1.0
    first_level_miss: float = 12.0  # answered by the L2
    last_level_miss: float = 50.0  # the simulated last level (a core's L2) missed: L3 or beyond
    mispredict: float = 20.0  # a mispredicted conditional or indirect branch

    def parts(self, events: Mapping[str, float]) -> dict[str, float]:
        """The cycles of each kind of event in ``events`` (cachegrind's names)."""
        return {
            "instructions": self.instruction * events["Ir"],
            "first_level_misses": self.first_level_miss
            * (events["I1mr"] + events["D1mr"] + events["D1mw"]),
            "last_level_misses": self.last_level_miss
            * (events["ILmr"] + events["DLmr"] + events["DLmw"]),
            "mispredicts": self.mispredict * (events["Bcm"] + events["Bim"]),
        }

    def cycles(self, events: Mapping[str, float]) -> float:
        """The modelled cycles of ``events``."""
        return sum(self.parts(events).values())


MODEL = CycleModel()


def parse_summary(text: str) -> dict[str, int]:
    """The totals of a cachegrind output file (its ``events:`` and ``summary:`` lines)."""
    names = re.search(r"^events:\s*(.+)$", text, re.MULTILINE)
    totals = re.search(r"^summary:\s*(.+)$", text, re.MULTILINE)
    if names is None or totals is None:
        raise ValueError(f"not a cachegrind output:\n{text[:500]}")
    events = dict(zip(names[1].split(), (int(n) for n in totals[1].split()), strict=True))
    missing = [name for name in (*EVENTS, *BRANCH_EVENTS) if name not in events]
    if missing:
        raise ValueError(f"cachegrind recorded no {', '.join(missing)}: is the simulation on?")
    return events


def cache_bytes(text: str) -> int:
    """sysfs' cache size (``2048K``) in bytes."""
    match = _SIZE.match(text.strip().upper())
    if match is None:
        raise ValueError(f"not a cache size: {text!r}")
    return int(match[1]) * _UNITS[match[2]]


def core_cache_bytes(path: Path = L2_SIZE) -> int:
    """This machine's L2 per core, or 2 MiB when sysfs does not say."""
    try:
        return cache_bytes(path.read_text())
    except (OSError, ValueError):
        return DEFAULT_LL_BYTES


def valgrind_command(output: Path, ll_bytes: int) -> list[str]:
    """cachegrind with the caches and branches simulated, its totals written to ``output``."""
    return [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=yes",
        "--branch-sim=yes",
        f"--LL={ll_bytes},{LL_WAYS},{LINE_BYTES}",
        f"--cachegrind-out-file={output}",
    ]


def simulate(program: Sequence[str], env: Mapping[str, str], ll_bytes: int) -> dict[str, int]:
    """The cachegrind totals of one run of ``program``."""
    with tempfile.TemporaryDirectory(prefix="cachegrind-") as scratch:
        output = Path(scratch) / "cachegrind.out"
        instructions.run_measured([*valgrind_command(output, ll_bytes), *program], env)
        return parse_summary(output.read_text())


def count_events(
    env: Mapping[str, str], endpoint: str, requests: int, ll_bytes: int
) -> dict[str, int]:
    """The events of one process serving ``requests`` requests, on a fresh copy of the db."""
    with instructions.on_database_copy(env) as run_env:
        return simulate(instructions.child_command(endpoint, requests), run_env, ll_bytes)


@dataclass(frozen=True)
class Simulated:
    """One variant on one endpoint: the short and the long run's events."""

    variant: str
    endpoint: str
    short: dict[str, int]
    long: dict[str, int]
    requests: int  # long - short

    def per_request(self) -> dict[str, float]:
        """The events one request adds."""
        return {k: (self.long[k] - self.short[k]) / self.requests for k in self.long}

    def cycles(self, model: CycleModel = MODEL) -> float:
        """Modelled cycles one request adds."""
        return model.cycles(self.per_request())


def table(runs: Sequence[Simulated], model: CycleModel = MODEL) -> list[str]:
    """Per variant and endpoint: modelled cycles, its parts, and bare over the variant in
    cycles and in instructions (what ``make bench`` reads as the throughput ratio)."""
    bare = {r.endpoint: r.per_request() for r in runs if r.variant == bench.BASELINE}
    lines = [
        f"{'endpoint':9} {'variant':18} {'Mcycles':>8} {'instr':>6} {'L1':>6} {'LL':>6} "
        f"{'branch':>6} {'bare/v cycles':>13} {'bare/v instr':>12}"
    ]
    for run in runs:
        events = run.per_request()
        parts = model.parts(events)
        cycles = sum(parts.values())
        base = bare.get(run.endpoint)
        by_cycles = model.cycles(base) / cycles if base else float("nan")
        by_instructions = base["Ir"] / events["Ir"] if base else float("nan")
        shares = [
            parts[k] / 1e6
            for k in ("instructions", "first_level_misses", "last_level_misses", "mispredicts")
        ]
        lines.append(
            f"{run.endpoint:9} {run.variant:18} {cycles / 1e6:8.2f} "
            + " ".join(f"{share:6.2f}" for share in shares)
            + f" {by_cycles:13.3f} {by_instructions:12.3f}"
        )
    return lines


def measure(
    variant: bench.Variant, endpoint: str, env: Mapping[str, str], options: Any
) -> Simulated:
    """One variant on one endpoint: the short and the long run."""
    return Simulated(
        variant=variant.name,
        endpoint=endpoint,
        short=count_events(env, endpoint, options.short, options.ll_bytes),
        long=count_events(env, endpoint, options.long, options.ll_bytes),
        requests=options.long - options.short,
    )


def parse_args(argv: Sequence[str] | None, variants: Sequence[bench.Variant]) -> Any:
    """The driver's options."""
    parser = instructions.selection_parser(__doc__.split("\n\n")[0], variants, ["create"])
    parser.add_argument("--short", type=int, default=instructions.DEFAULT_SHORT)
    parser.add_argument("--long", type=int, default=instructions.DEFAULT_LONG)
    parser.add_argument(
        "--ll-bytes",
        type=int,
        default=core_cache_bytes(),
        help="size of the last cache level simulated (default: this machine's L2)",
    )
    parser.add_argument("--output", type=Path, default=bench.RESULTS / "cycles.json")
    options = parser.parse_args(argv)
    if options.long <= options.short:
        parser.error("--long must be more than --short")
    return options


def main(argv: list[str] | None = None) -> int:
    """Simulate every selected variant on every selected endpoint, two runs at a time."""
    variants = bench.build_variants(bench.production_sampler_ratio())
    options = parse_args(sys.argv[1:] if argv is None else argv, variants)
    if instructions.valgrind_missing():
        return 2
    runs, received = instructions.measure_all(
        bench.select_variants(variants, options.variants),
        options.endpoints,
        lambda variant, endpoint, env: measure(variant, endpoint, env, options),
        lambda run: f"{run.endpoint:9} {run.variant:18} {run.cycles() / 1e6:,.2f} Mcycles",
    )
    for line in table(runs):
        bench.say(line)
    instructions.save_results(
        options.output,
        {
            "short": options.short,
            "long": options.long,
            "ll_bytes": options.ll_bytes,
            "model": MODEL.__dict__,
            "runs": [
                {
                    "variant": r.variant,
                    "endpoint": r.endpoint,
                    "per_request": {k: round(v, 1) for k, v in r.per_request().items()},
                    "cycles": round(r.cycles()),
                    "parts": {k: round(v) for k, v in MODEL.parts(r.per_request()).items()},
                }
                for r in runs
            ],
            "sinks": received,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
