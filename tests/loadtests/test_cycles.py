"""The modelled-cycles benchmark (loadtests/cycles.py): the model's arithmetic, the parsing of
cachegrind's output, and a real cachegrind run whose events grow with the work done."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from loadtests import cycles
from loadtests.cycles import BRANCH_EVENTS as BRANCHES
from loadtests.cycles import EVENTS, CycleModel, Simulated, parse_summary, table

CACHEGRIND_OUT = """# callgrind format
version: 1
creator: cachegrind-3.19.0
pid: 4242
cmd: python3 -c pass
events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw Bc Bcm Bi Bim
fl=/tmp/x.c
fn=main
1 10 1 0 4 1 0 2 0 0 1 0 0 0
summary: 1000 10 2 400 20 5 200 4 1 150 30 20 10
"""


def events(**values: float) -> dict[str, float]:
    """Every event at 0 but those given."""
    return dict.fromkeys((*EVENTS, *BRANCHES), 0.0) | values


def test_the_totals_are_read_from_the_summary_line() -> None:
    totals = parse_summary(CACHEGRIND_OUT)
    assert totals["Ir"] == 1000
    assert totals["DLmr"] == 5
    assert totals["Bim"] == 10


def test_an_output_without_the_simulations_is_refused_not_read_as_zeros() -> None:
    without_branches = (
        "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw\nsummary: 1 0 0 0 0 0 0 0 0\n"
    )
    with pytest.raises(ValueError, match="Bc, Bcm, Bi, Bim"):
        parse_summary(without_branches)
    with pytest.raises(ValueError, match="not a cachegrind output"):
        parse_summary("valgrind: failed to start tool 'cachegrind'")


def test_each_event_is_weighed_by_what_it_costs() -> None:
    model = CycleModel(instruction=1, first_level_miss=10, last_level_miss=100, mispredict=20)
    counted = events(Ir=1000, I1mr=1, D1mr=2, D1mw=3, ILmr=1, DLmr=1, DLmw=1, Bcm=4, Bim=1, Bc=9)
    assert model.parts(counted) == {
        "instructions": 1000,
        "first_level_misses": 60,
        "last_level_misses": 300,
        "mispredicts": 100,
    }
    assert model.cycles(counted) == 1460


def test_reads_and_correctly_predicted_branches_cost_nothing_beyond_their_instructions() -> None:
    assert CycleModel().cycles(events(Ir=500, Dr=300, Dw=200, Bc=100, Bi=50)) == 500


def test_a_request_adds_the_difference_over_the_extra_requests() -> None:
    short = dict.fromkeys((*EVENTS, *BRANCHES), 0) | {"Ir": 1_000, "DLmr": 10}
    long = short | {"Ir": 51_000, "DLmr": 110}
    run = Simulated("bare", "create", short, long, requests=50)
    assert run.per_request()["Ir"] == 1_000
    assert run.per_request()["DLmr"] == 2
    assert run.cycles(CycleModel(last_level_miss=50)) == 1_000 + 2 * 50


def test_the_table_gives_bare_over_each_variant_in_cycles_and_in_instructions() -> None:
    zero = dict.fromkeys((*EVENTS, *BRANCHES), 0)
    bare = Simulated("bare", "create", zero, zero | {"Ir": 1_000_000}, requests=1)
    # 5% more instructions, and misses costing another 5% of bare's cycles
    variant = Simulated(
        "project@10%", "create", zero, zero | {"Ir": 1_050_000, "DLmr": 1_000}, requests=1
    )
    lines = table([bare, variant])
    assert lines[1].split()[-2:] == ["1.000", "1.000"]
    assert lines[2].split()[-2:] == ["0.909", "0.952"]  # 1.0 / 1.1 and 1.0 / 1.05


@pytest.mark.parametrize(("text", "expected"), [("2048K", 2 << 20), ("1M", 1 << 20), ("512", 512)])
def test_cache_sizes_are_read_as_sysfs_writes_them(text: str, expected: int) -> None:
    assert cycles.cache_bytes(text + "\n") == expected


def test_a_machine_whose_sysfs_says_nothing_simulates_two_mebibytes(tmp_path: Path) -> None:
    assert cycles.core_cache_bytes(tmp_path / "missing") == cycles.DEFAULT_LL_BYTES
    (tmp_path / "size").write_text("big\n")
    assert cycles.core_cache_bytes(tmp_path / "size") == cycles.DEFAULT_LL_BYTES


def test_a_real_simulation_counts_more_of_every_kind_for_more_work() -> None:
    """cachegrind itself, on a small program run with two amounts of work: the events are
    read from its real output, and the longer run's instructions, data reads and modelled
    cycles are larger (the program walks a list bigger than the simulated cache)."""
    walk = "data = list(range({n})); total = 0\nfor _ in range(3):\n    total += sum(data)\n"

    def run(n: int) -> dict[str, int]:
        program = [sys.executable, "-S", "-c", walk.format(n=n)]
        return cycles.simulate(program, dict(os.environ), ll_bytes=256 * 1024)

    small, large = run(1_000), run(200_000)
    assert large["Ir"] > small["Ir"] + 1_000_000
    assert large["Dr"] > small["Dr"]
    assert large["DLmr"] > small["DLmr"] + 1_000  # 200k ints do not fit in 256 KiB
    assert CycleModel().cycles(large) > CycleModel().cycles(small)
