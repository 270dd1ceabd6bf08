"""The offline marking kit's counter: the next sequence number, in a file, handed out once whatever crashes."""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from pathlib import Path

from assay.errors import Conflict, InvalidInput
from assay.files import remove_stale_temporaries, replace_durably

__all__ = ["KitCounter"]


class KitCounter:
    """The next sequence number of an offline kit, in a file: never handed out twice, whatever crashes.

    1. take the lock (``<file>.lock``; the counter file itself is replaced, so it cannot carry the lock);
    2. read the number; an absent file means the kit's start, an unreadable one is an error (never a restart
       from the start, which would hand out numbers already used);
    3. write number + 1 with :func:`assay.files.replace_durably` (temp file, fsync, rename, fsync the folder);
    4. only then hand the number out.

    A crash before step 3 completes leaves the old number (the one not handed out is reused: nothing was
    marked with it); after it, the new one (at worst a number is skipped). ``step`` is for crash tests.
    """

    def __init__(self, path: Path, *, start: int, end: int, step: Callable[[str], None] | None = None) -> None:
        self.path = path
        self.start, self.end = start, end
        self.step = step

    def take(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            # 1.
            fcntl.flock(lock, fcntl.LOCK_EX)
            remove_stale_temporaries(self.path)  # a writer that died mid-write; we hold the lock
            # 2.
            seq = self._read()
            if seq >= self.end:
                raise Conflict(
                    "this marking kit has used all its marks",
                    hint="record your batches, then ask the register for a new kit",
                )
            # 3.
            replace_durably(self.path, f"{seq + 1}\n".encode(), mode=0o600, step=self.step)
        # 4.
        return seq

    def _read(self) -> int:
        try:
            text = self.path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return self.start
        except (OSError, UnicodeDecodeError) as exc:
            raise _damaged_counter(self.path, str(exc)) from None
        if not text.isdigit() or not (self.start <= int(text) <= self.end):
            raise _damaged_counter(self.path, f"it holds {text[:20]!r}, not a number in {self.start}..{self.end}")
        return int(text)


def _damaged_counter(path: Path, why: str) -> InvalidInput:
    return InvalidInput(
        f"the marking kit's counter {str(path)!r} is damaged ({why})",
        hint="write into it one more than the highest sequence number in your batch files' mark ids "
        "(or ask the register for a new kit); starting again would reuse mark ids",
    )
