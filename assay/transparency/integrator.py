"""Who integrates the log, and when: a lease so that one of N workers (on any number of machines) integrates,
and a background thread in each worker that integrates soon after commits while it holds the lease."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, or_, select, update

from assay.db import Database
from assay.errors import StorageError
from assay.transparency._record import entries_committed
from assay.transparency.models import IntegratorLease as IntegratorLeaseRow

if TYPE_CHECKING:  # only the type: the integrator drives a log it is handed
    from assay.transparency.service import TransparencyLog

__all__ = ["BackgroundIntegrator", "IntegratorLease"]

log = logging.getLogger("assay.transparency")

# This process, as a lease holder: every integrator of one process shares it (two apps in one test process
# both integrate, as before the lease); another process or machine has another.
_PROCESS_HOLDER = f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


class IntegratorLease:
    """Who integrates the log: a lease row with an expiry, so that of N workers (on any number of machines)
    one integrates, and a dead one is replaced once its lease runs out.

    :meth:`hold` takes the lease if it is free, expired or already ours, and extends it by ``ttl`` seconds;
    it answers whether we hold it. Integration stays safe without the lease (compare-and-swap on the head):
    the lease saves the work, and the witnesses' traffic, of N integrators doing the same thing.
    Times are wall-clock Unix seconds (machines need synchronised clocks, as for TLS).
    """

    def __init__(
        self, db: Database, *, ttl: float = 10.0, holder: str | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.holder = holder or _PROCESS_HOLDER
        self.clock = clock

    def hold(self) -> bool:
        now = self.clock()
        with self.db.write() as s:
            result = s.execute(
                update(IntegratorLeaseRow)
                .where(
                    IntegratorLeaseRow.id == 1,
                    or_(IntegratorLeaseRow.holder == self.holder, IntegratorLeaseRow.expires_at < now),
                )
                .values(holder=self.holder, expires_at=now + self.ttl)
            )
            return cast(CursorResult[Any], result).rowcount == 1

    def release(self) -> None:
        """Give the lease up now (on a clean shutdown), so another worker takes over without waiting."""
        with self.db.write() as s:
            s.execute(
                update(IntegratorLeaseRow)
                .where(IntegratorLeaseRow.id == 1, IntegratorLeaseRow.holder == self.holder)
                .values(expires_at=0.0)
            )

    def current(self) -> tuple[str, float]:
        with self.db.read() as s:
            row = s.execute(
                select(IntegratorLeaseRow.holder, IntegratorLeaseRow.expires_at).where(IntegratorLeaseRow.id == 1)
            ).one()
        return row[0], float(row[1])


class BackgroundIntegrator:
    """A daemon thread that integrates soon after entries are committed in this process, and every
    ``period`` seconds anyway (for entries written by other processes) — while it holds the lease.

    Every worker runs one; only the lease holder integrates (and asks the witnesses to cosign). The others
    try to take the lease every period, so when the holder dies, one of them takes over within its ``ttl``.
    """

    def __init__(
        self,
        tlog: TransparencyLog,
        *,
        period: float = 1.0,
        min_interval: float = 0.1,
        lease: IntegratorLease | None = None,
    ) -> None:
        self.tlog = tlog
        self.period = period
        self.min_interval = min(min_interval, period)
        self.lease = lease or IntegratorLease(tlog.db, ttl=max(10.0, 5 * period))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def integrate_if_leader(self) -> bool:
        """Integrate now if this process holds (or can take) the lease; whether it did."""
        if not self.lease.hold():
            return False
        self.tlog.integrate()
        return True

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="assay-log-integrator", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        entries_committed.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            try:
                self.lease.release()
            except StorageError as exc:  # the database is gone: the lease simply expires
                log.warning("transparency log: could not release the integrator lease: %s", exc.message)

    def _run(self) -> None:
        failures = 0
        last = 0.0
        while not self._stop.is_set():
            entries_committed.wait(self.period if not failures else min(60.0, self.period * 2**failures))
            if self._stop.is_set():
                break
            # An integration costs a few fsyncs whatever its size: let a burst of commits gather first.
            wait = self.min_interval - (time.monotonic() - last)
            if wait > 0 and self._stop.wait(wait):
                break
            entries_committed.clear()
            last = time.monotonic()
            try:
                self.integrate_if_leader()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - a background loop must survive and report
                failures += 1
                log.error("transparency log: integration failed (attempt %d): %s", failures, exc)
