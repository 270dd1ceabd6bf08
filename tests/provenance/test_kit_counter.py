"""The offline kit's counter hands out each sequence number once, whatever crashes (issue 10, item 6).

The old counter truncated its file, then wrote the new number in place: a crash in between left it empty, and
the next run started again from the kit's first number, reusing mark ids. Each test here crashes it at a
different point and checks, after a restart, that no number already handed out comes back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.errors import Conflict, InvalidInput
from assay.files import REPLACE_STEPS
from assay.provenance.counter import KitCounter


class Crash(Exception):
    """Raised by the step hook, as if the process died there."""


def _crashing_at(name: str):  # type: ignore[no-untyped-def]
    def step(current: str) -> None:
        if current == name:
            raise Crash(current)

    return step


@pytest.mark.parametrize("crash_before", [*REPLACE_STEPS, "returned"])
def test_a_crash_at_any_step_never_hands_a_number_out_twice(tmp_path: Path, crash_before: str) -> None:
    path = tmp_path / "kit.counter"
    handed = [KitCounter(path, start=1, end=100).take() for _ in range(3)]
    assert handed == [1, 2, 3]
    crashing = KitCounter(path, start=1, end=100, step=_crashing_at(crash_before))
    if crash_before == "returned":  # the crash comes after take() returned: the number counts as used
        handed.append(crashing.take())
    else:
        with pytest.raises(Crash):
            crashing.take()
    # The restarted process: the file is whole (old or new number), and the next number is new.
    text = path.read_text().strip()
    assert text.isdigit() and int(text) in (handed[-1] + 1, handed[-1] + 2)
    restarted = KitCounter(path, start=1, end=100)
    following = [restarted.take() for _ in range(3)]
    assert not set(following) & set(handed) and following == sorted(following)
    assert not list(tmp_path.glob(".kit.counter.*.tmp"))  # what the crash left is cleaned up


def test_killed_processes_never_reuse_a_number(tmp_path: Path) -> None:
    # Real crashes: a process taking numbers as fast as it can, killed with SIGKILL at varied moments.
    path = tmp_path / "kit.counter"
    program = (
        "import sys; from pathlib import Path; from assay.provenance.counter import KitCounter\n"
        f"c = KitCounter(Path({str(path)!r}), start=1, end=10**9)\n"
        "while True:\n    print(c.take(), flush=True)\n"
    )
    handed: list[int] = []
    for round_ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        first = proc.stdout.readline()  # it is running and has taken one
        time.sleep(0.01 * round_)
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        handed += [int(x) for x in (first + out).split()]
    assert len(handed) == len(set(handed)), "a number was handed out twice"
    assert KitCounter(path, start=1, end=10**9).take() > max(handed)


def test_a_damaged_counter_is_refused_instead_of_restarting(tmp_path: Path) -> None:
    path = tmp_path / "kit.counter"
    path.write_text("")  # what the old counter left after a crash between truncating and writing
    with pytest.raises(InvalidInput, match="damaged") as raised:
        KitCounter(path, start=1, end=100).take()
    assert "reuse" in raised.value.hint
    path.write_text("100\n")
    with pytest.raises(Conflict, match="used all its marks"):
        KitCounter(path, start=1, end=100).take()
