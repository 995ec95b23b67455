"""``workers = N``: a master process supervising N forked gateway processes.

The master binds (or adopts) the listeners before forking, so every worker
accepts on the same address; it never accepts itself. Each worker keeps only its
own slot's sockets, and the master closes its copies as soon as it stops, so that
after SIGTERM new connections are refused at once instead of queueing on sockets
nobody serves. Each worker is a whole
gateway (threaded XML-RPC server and pooled JSON-RPC server sharing one
service instance) run by a Supervisor whose notifications go up a pipe.

Rules:
1. The master alone speaks to systemd: READY=1 once every worker is ready,
   WATCHDOG=1 only while every worker's loop has reported in recently.
2. SIGTERM/SIGINT and SIGHUP are forwarded; a reload is validated by the
   master first, so a broken file never reaches the workers, and READY=1 ends
   it only once every worker has reported it applied.
3. A worker that dies unasked is replaced; one dying again within a second of
   its start is replaced after a growing pause, so a crash loop cannot spin.
4. A worker is forked with SIGTERM, SIGINT and SIGHUP blocked, so one sent while
   it starts is handled once it can be, never lost and never fatal; and it stops
   gracefully if the master dies, however it dies.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import signal
import socket
import time
from typing import Callable

from gateway import systemd
from gateway.config import Config, for_reload, reread_or_keep
from gateway.listeners import describe, reuseport_copy

log = logging.getLogger("gateway")

HEARTBEAT = 1.0  # seconds between a worker's reports
PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


class Worker:
    __slots__ = ("pid", "started", "ready", "last_report", "slot")

    def __init__(self, pid: int, slot: int = 0) -> None:
        self.slot = slot  # which of Master.slots it accepts on; a replacement keeps it
        self.pid = pid
        self.started = time.monotonic()
        self.ready = False
        self.last_report = self.started


class Master:
    def __init__(self, config: Config, listeners: list[socket.socket],
                 reread: Callable[[], Config]) -> None:
        self.config = config
        self.listeners = listeners
        # Slot i: the listening sockets worker i accepts on. Slot 0 is the bound (or
        # adopted) set; the others are SO_REUSEPORT copies, so the kernel spreads
        # connections over the workers by a hash of the peer instead of handing most
        # of them to whichever worker is first in epoll_wait on one shared socket.
        self.slots = [listeners] + [[reuseport_copy(s) for s in listeners]
                                    for _ in range(config.server.workers - 1)]
        self.where = ", ".join(describe(s) for s in listeners)  # said after they close too
        self.reread = reread
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.reload_requested = False
        self.backoff = 0.0
        self.report_r, self.report_w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self.report_r, False)
        self._pending = b""

    # -- signals only set flags ------------------------------------------------------

    def _on_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _on_reload(self, signum: int, frame: object) -> None:
        self.reload_requested = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        for slot in range(self.config.server.workers):
            self._spawn(slot)
        if not self._wait_ready(timeout=60.0):
            log.error("workers did not become ready; stopping")
            self._stop_workers()
            return 1
        log.info("master %d: %d workers serving XML-RPC and JSON-RPC on %s",
                 os.getpid(), len(self.workers), self.where)
        systemd.notify(f"READY=1\nSTATUS={self._status()}")
        watchdog = systemd.watchdog_interval()
        next_ping = 0.0
        while not self.stopping:
            self._read_reports(timeout=0.5)
            self._reap()
            if self.reload_requested:
                self.reload_requested = False
                self._reload()
            now = time.monotonic()
            if watchdog and now >= next_ping and self._healthy(now):
                systemd.notify(f"WATCHDOG=1\nSTATUS={self._status()}")
                next_ping = now + watchdog
        systemd.notify("STOPPING=1\nSTATUS=draining")
        self._close_listeners()
        log.info("master: stopping %d workers", len(self.workers))
        return 0 if self._stop_workers() else 1

    # -- workers -------------------------------------------------------------------------

    def _spawn(self, slot: int = 0) -> None:
        # Blocked across the fork: until the worker's Supervisor has its own handlers (it
        # unblocks them then), a stop or reload sent to it stays pending instead of
        # running the master's handlers or killing it half-started.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, systemd.CONTROL_SIGNALS)
        master = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: whatever happens, it never returns into the master's code
            code = 1
            try:
                _stop_with(master)
                code = self._worker_main(slot)
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        self.workers[pid] = Worker(pid, slot)

    def _worker_main(self, slot: int = 0) -> int:
        """In the child: a whole gateway, reporting to the master instead of systemd."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
            os.environ.pop(name, None)
        os.close(self.report_r)
        for other, sockets in enumerate(self.slots):
            if other != slot:  # held here, a socket would queue connections nobody serves
                _close_unshared(sockets, self.slots[slot])
        report_w = self.report_w
        pid = os.getpid()

        def report(state: str) -> None:
            try:
                os.write(report_w, f"{pid}|{state}".encode()[:500] + b"\0")
            except OSError:
                pass

        try:
            from gateway.server import GatewayServer
            from gateway.supervisor import Supervisor
            # zerorpc endpoints cannot be shared between processes: worker 0 serves them
            server = GatewayServer(self.config, self.slots[slot], serve_zerorpc=slot == 0)
            return Supervisor(server, self.reread, notify=report, watchdog=HEARTBEAT,
                              warn_restart_keys=False).run()
        except Exception:
            log.exception("worker %d failed to start", pid)
            return 1

    def _read_reports(self, timeout: float) -> None:
        try:
            ready, _, _ = select.select([self.report_r], [], [], timeout)
        except InterruptedError:
            return
        if not ready:
            return
        try:
            self._pending += os.read(self.report_r, 65536)
        except BlockingIOError:
            return
        *messages, self._pending = self._pending.split(b"\0")
        for message in messages:
            pid_text, _, state = message.decode(errors="replace").partition("|")
            worker = self.workers.get(int(pid_text)) if pid_text.isdigit() else None
            if worker is None:
                continue
            worker.last_report = time.monotonic()
            if "READY=1" in state:
                worker.ready = True

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if self.workers and all(w.ready for w in self.workers.values()):
                return True
            self._read_reports(timeout=0.2)
            if self._reap(restart=False):
                return False
        return False

    def _reap(self, restart: bool = True) -> bool:
        """Collect dead workers; replace them unless stopping. True if any died."""
        died = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return died
            if pid == 0:
                return died
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            died = True
            if self.stopping or not restart:
                continue
            log.error("worker %d exited unexpectedly (%s); starting a new one", pid,
                      _exit_reason(status))
            quick = time.monotonic() - worker.started < 1.0
            self.backoff = min(max(self.backoff * 2, 0.5), 30.0) if quick else 0.0
            if self.backoff:
                time.sleep(self.backoff)
                if self.stopping:  # the stop came during the pause: nothing to replace
                    continue
            self._spawn(worker.slot)

    def _healthy(self, now: float) -> bool:
        return len(self.workers) == self.config.server.workers and all(
            w.ready and now - w.last_report < 3 * HEARTBEAT + 2 for w in self.workers.values())

    def _reload(self) -> None:
        systemd.notify("RELOADING=1")
        config = reread_or_keep(self.reread, log)
        if config is None:
            systemd.notify(f"READY=1\nSTATUS=reload failed; {self._status()}")
            return
        self.config, warnings = for_reload(self.config, config)
        for warning in warnings:
            log.warning("%s", warning)
        for worker in self.workers.values():
            worker.ready = False  # until it reports READY=1 again, with the new config
            _signal(worker.pid, signal.SIGHUP)
        self._wait_reloaded(timeout=10.0)
        systemd.notify(f"READY=1\nSTATUS={self._status()}")

    def _wait_reloaded(self, timeout: float) -> None:
        """systemd's READY=1 ends a reload: only once every worker has applied it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            if all(w.ready for w in self.workers.values()):
                return
            self._read_reports(timeout=0.1)
            self._reap()  # a replacement starts with the new config and reports READY=1
        log.warning("reload: not every worker confirmed it within %.0f s", timeout)

    def _stop_workers(self) -> bool:
        """SIGTERM every worker and wait for the drain; SIGKILL stragglers. True if all clean."""
        for pid in self.workers:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.config.server.drain_timeout + 5
        clean = True
        while self.workers and time.monotonic() < deadline:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if self.workers.pop(pid, None) is not None and status != 0:
                clean = False
        for pid in list(self.workers):
            log.error("worker %d did not stop in time; killing it", pid)
            _signal(pid, signal.SIGKILL)
            clean = False
        return clean

    def _close_listeners(self) -> None:
        """On stop: the master never accepts, so once no replacement worker can be needed
        its copies must go, or the kernel would keep completing handshakes on sockets
        that nobody serves any more. Each worker closes its own as its loop stops."""
        for sockets in self.slots:
            for sock in sockets:
                sock.close()

    def _status(self) -> str:
        return f"listening on {self.where}; {len(self.workers)} workers"


def _stop_with(master: int) -> None:
    """In a new worker: SIGTERM (a graceful stop) when the master dies, even by SIGKILL or
    the OOM killer, instead of serving on with nobody to replace or stop it (Linux's
    parent-death signal; elsewhere nothing)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != master:  # it died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


def _close_unshared(sockets: list[socket.socket], keep: list[socket.socket]) -> None:
    """Close ``sockets`` except those also in ``keep`` (a Unix or systemd socket is
    shared by every slot, see ``reuseport_copy``)."""
    for sock in sockets:
        if all(sock is not kept for kept in keep):
            sock.close()


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError as error:
        if error.errno != errno.ESRCH:
            raise


def _exit_reason(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {signal.Signals(os.WTERMSIG(status)).name}"
    return f"status {os.waitstatus_to_exitcode(status)}"


def run_workers(config: Config, listeners: list[socket.socket],
                reread: Callable[[], Config]) -> int:
    from gateway.metrics import shared_directory
    with shared_directory():  # every worker's figures, read by whichever is scraped
        return Master(config, listeners, reread).run()
