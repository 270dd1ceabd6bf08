"""create_once: keys and secrets made on first run are whole, private, and the same for every process."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from assay.errors import StorageError
from assay.files import create_once, read_or_create_secret


def test_creates_a_private_file_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret"
    assert create_once(path, b"first") is True
    assert path.read_bytes() == b"first"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert create_once(path, b"second") is False
    assert path.read_bytes() == b"first"
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret"]  # no temporary file left behind


def _race(args: tuple[str, int]) -> tuple[bool, bytes]:
    path, n = args
    created = create_once(Path(path), os.urandom(32) + bytes([n]))
    return created, Path(path).read_bytes()


def test_racing_processes_all_read_the_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.map(_race, [(str(path), n) for n in range(16)])
    assert sum(created for created, _ in results) == 1
    assert {data for _, data in results} == {path.read_bytes()}


def test_an_empty_pepper_left_by_a_crash_is_an_error_not_a_loop(tmp_path: Path) -> None:
    from assay.complaints.receipts import load_or_create_pepper, pepper_path

    pepper = load_or_create_pepper(tmp_path)
    assert load_or_create_pepper(tmp_path) == pepper  # made once, then read
    pepper_path(tmp_path).write_bytes(b"")
    with pytest.raises(StorageError, match="damaged"):
        load_or_create_pepper(tmp_path)


def test_a_secret_is_made_once_and_a_damaged_one_is_refused_with_its_hint(tmp_path: Path) -> None:
    path = tmp_path / "part" / "secret.key"
    first = read_or_create_secret(path, 32, what="the test secret", if_damaged="restore it")
    assert len(first) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert read_or_create_secret(path, 32, what="the test secret", if_damaged="restore it") == first
    path.write_bytes(b"short")
    with pytest.raises(StorageError) as err:
        read_or_create_secret(path, 32, what="the test secret", if_damaged="restore it")
    assert "the test secret" in err.value.message and "5 bytes" in err.value.message and err.value.hint == "restore it"
