"""Bounds for reading one file, and reader processes that cannot exceed them.

Every file is read in a child process with a memory cap (RLIMIT_AS) and a wall-clock timeout. The children are
kept for many files instead of being forked for each one (a fork of the daemon costs more than reading most
files), and as many run at once as the machine has cores. A child that runs out of time is killed with everything
it started; one that crashes, runs out of memory or has grown is replaced; either way the file gets a result.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import signal
import stat
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_any
from typing import Any, Callable, Iterable, Iterator

from intake.documents import FileItem, ReadResult

try:  # POSIX only; elsewhere the wall-clock timeout still applies
    import resource
except ImportError:  # pragma: no cover
    resource = None


@dataclass(frozen=True)
class ReadLimits:
    """How much one file may cost: pages, OCR, time, memory and output size."""

    max_pages: int = 50
    max_ocr_pages: int = 5
    ocr_timeout: float = 60  # seconds for all OCR of one file
    timeout: float = 60  # seconds of wall clock for the whole file
    memory_mb: int = 1024
    max_text_chars: int = 500_000
    max_rows: int = 5000  # per sheet
    max_cols: int = 100


DEFAULT_LIMITS = ReadLimits()

# A reader process is replaced after this many files, or when it has grown by this much: what one file leaves
# behind (caches, a fragmented heap) must not count against the next file's memory cap, nor add up over a backlog.
MAX_FILES_PER_PROCESS = 100
MAX_GROWTH_BYTES = 256 * 1024 * 1024


class Unreadable(Exception):
    """Raised by a reader when the file cannot be read; the message is the reason shown to people."""


def _seconds(value: float) -> str:
    return f"{value:g}"


def memory_reason(limits: ReadLimits) -> str:
    return f"reading needed more than {limits.memory_mb} MB"


# --- the reader process ------------------------------------------------------------------------------------------

def _address_space() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _descriptors(full: bool = False) -> dict:
    """This process's open file descriptors above stderr, each with the identity of what it refers to (or, with
    `full`, its whole os.stat_result)."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        return {}
    out = {}
    for fd in fds:
        if fd <= 2:
            continue
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        out[fd] = st if full else (st.st_dev, st.st_ino)
    return out


_PR_SET_PDEATHSIG, _PR_SET_NAME = 1, 15


def _prctl(option: int, arg) -> bool:
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError, TypeError):  # not Linux
        return False


def name_process(name: str) -> None:
    """The name `top`, `ps -o comm`, `pgrep` and the kernel's OOM report show for this process (Linux; at most 15
    bytes): a forked child otherwise looks like the daemon itself."""
    _prctl(_PR_SET_NAME, name.encode()[:15])


def die_with_parent(parent: int | None) -> None:
    """Have the kernel kill this process when `parent` (the process and thread that forked it) ends, even by
    SIGKILL: a preparer killed for a mail that hung it must not leave its readers running with no deadline (the
    deadline was the preparer's). Only for a child forked from its parent's main thread, since the signal comes when
    the forking thread ends."""
    if parent is None or not _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL):
        return
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(0)


def forked_from_main_thread() -> int | None:
    """The parent id to give `die_with_parent` in a child forked now, or None from another thread."""
    return os.getpid() if threading.current_thread() is threading.main_thread() else None


def _release_inherited(inherited: dict[int, tuple[int, int]], keep: int) -> None:
    """The daemon's IMAP, SMTP and database connections, other readers' pipes and a parent's pipes (a test runner's
    browser, a shell waiting for end of file) are not this process's: point each at /dev/null, so the other end
    sees this process let go. /dev/null rather than close: an inherited Python object that closes its descriptor
    later must not close a file this process opened meanwhile under the same number."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return
    try:
        for fd, identity in inherited.items():
            if fd in (keep, null):
                continue
            try:
                st = os.fstat(fd)
                if (st.st_dev, st.st_ino) == identity:  # still what the daemon had open, not a number reused since
                    os.dup2(null, fd)
            except OSError:
                pass
        # A socket another thread of the daemon opened after the list was made (IMAP, SMTP, PostgreSQL): a reader
        # needs no socket but its own pipe to the daemon.
        for fd, st in _descriptors(full=True).items():
            if fd not in (keep, null) and stat.S_ISSOCK(st.st_mode):
                try:
                    os.dup2(null, fd)
                except OSError:
                    pass
    finally:
        os.close(null)


def _serve(conn, inherited: dict[int, tuple[int, int]] | None = None, parent: int | None = None) -> None:
    """A reader process: read files sent by the daemon until told to stop, the daemon goes or it should retire."""
    # Own process group, so a timeout also kills the tesseract processes this process starts.
    try:
        os.setpgrp()
    except OSError:
        pass
    die_with_parent(parent)
    name_process("hd-reader")
    # The daemon's handlers only set a flag; here SIGTERM must end the process.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _release_inherited(inherited or {}, conn.fileno())
    from intake.readers import read  # late: readers import this module

    hard = resource.getrlimit(resource.RLIMIT_AS)[1] if resource is not None else None
    baseline = _address_space()
    done = 0
    while True:
        try:
            task = conn.recv()
            if task is None:
                return
            filename, content_type, container, limits, then = task
            item = FileItem(filename=filename, content_type=content_type, data=conn.recv_bytes(), container=container)
        except (EOFError, OSError):
            return  # the daemon is gone
        if resource is not None:
            cap = limits.memory_mb * 1024 * 1024
            if hard != resource.RLIM_INFINITY:
                cap = min(cap, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        out_of_memory = False
        try:
            result = read(item, limits)
        except MemoryError:
            result = ReadResult(readable=False, reason=memory_reason(limits))
        except Exception as exc:  # read() already catches reader errors; this is the last line
            result = ReadResult(readable=False, reason=f"the reader failed ({type(exc).__name__})")
        out_of_memory = result.reason == memory_reason(limits)
        extra = None
        if then is not None and not out_of_memory:
            try:
                extra = then(item, result)
            except MemoryError:
                out_of_memory = True
            except Exception:  # the daemon does it again itself, and sees the error there
                extra = None
        del item
        done += 1
        retire = (out_of_memory or done >= MAX_FILES_PER_PROCESS
                  or _address_space() - baseline > MAX_GROWTH_BYTES)
        try:
            conn.send((result, extra, retire))
        except MemoryError:
            try:
                conn.send((ReadResult(readable=False, reason=memory_reason(limits)), None, True))
            except OSError:
                return
            retire = True
        except OSError:  # BrokenPipeError: the daemon is gone (killed or stopped); nobody waits for the result
            return
        if retire:
            return
        if resource is not None:
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


# --- the daemon's side -------------------------------------------------------------------------------------------

def _context():
    # fork starts in milliseconds and keeps test monkeypatches; spawn is the portable fallback.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


class _Reader:
    """One reader process and the file it is reading."""

    def __init__(self, ctx):
        # What is open before the reader's own pipes exist: with fork the reader inherits all of it and lets it go.
        fork = ctx.get_start_method() == "fork"
        inherited = _descriptors() if fork else {}
        self.conn, child_conn = ctx.Pipe(duplex=True)
        if fork:  # and the daemon's end of this reader's own pipe: held by the reader, EOF would never come
            st = os.fstat(self.conn.fileno())
            inherited[self.conn.fileno()] = (st.st_dev, st.st_ino)
        self.proc = ctx.Process(target=_serve, args=(child_conn, inherited, forked_from_main_thread()), daemon=True)
        self.proc.start()
        child_conn.close()  # so a dead reader shows up as EOF instead of a hang
        self.index: int | None = None
        self.item: FileItem | None = None
        self.deadline = 0.0
        self.limits: ReadLimits = DEFAULT_LIMITS

    def give(self, index: int, item: FileItem, limits: ReadLimits, then=None) -> None:
        self.conn.send((item.filename, item.content_type, item.container, limits, then))
        self.conn.send_bytes(item.data)  # straight from the buffer: no pickled copy of a large file
        self.index, self.limits = index, limits
        self.deadline = time.monotonic() + limits.timeout

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (AttributeError, OSError):  # not yet its own group, or not POSIX
            self.proc.kill()
        self.close(wait=True)

    def close(self, wait: bool = False) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        if wait:
            self.proc.join(5)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join()


class _Pool:
    """Idle reader processes, kept between mails; replaced whenever the readers themselves are swapped (tests)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.idle: list[_Reader] = []
        self.pid = os.getpid()
        self.fingerprint: dict | None = None

    @staticmethod
    def size() -> int:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return max(1, min(cores, 4))

    def _check(self, ctx) -> None:
        from intake.readers import READERS

        if os.getpid() != self.pid:  # a forked copy of the daemon: these readers belong to the original
            self.idle, self.pid = [], os.getpid()
        current = dict(READERS)
        if ctx.get_start_method() == "fork" and current != self.fingerprint:
            self.shutdown()
            self.fingerprint = current

    def take(self, ctx) -> _Reader:
        while self.idle:
            reader = self.idle.pop()
            if reader.proc.is_alive():
                return reader
            reader.close(wait=True)
        return _Reader(ctx)

    def shutdown(self) -> None:
        idle, self.idle = self.idle, []
        for reader in idle:
            try:
                reader.conn.send(None)
            except OSError:
                pass
            reader.close()
        for reader in idle:
            reader.proc.join(2)
            if reader.proc.is_alive():
                reader.kill()


_POOL = _Pool()
atexit.register(_POOL.shutdown)

# For the daemon's preparer process, which starts reader processes of its own and lets go of what it inherits
# the same way.
fork_context, descriptors, release_inherited = _context, _descriptors, _release_inherited


def shutdown_readers() -> None:
    """Stop this process's idle reader processes (a child process exits without running atexit)."""
    with _POOL.lock:
        _POOL.shutdown()


def read_each(items: Iterable[FileItem], limits: ReadLimits = DEFAULT_LIMITS,
              then: Callable[[FileItem, ReadResult], Any] | None = None) -> Iterator[tuple[int, ReadResult, Any]]:
    """(index, result, extra) for every item, in the order reading finishes, several files at a time; never raises
    for bad files. Each file is read in a reader process under `limits.memory_mb` and `limits.timeout`.

    `then` (a module-level function, so it can be named to the reader process) runs in the reader process on the
    file and its result, within the same limits, and its return value comes back as `extra`; None when it failed
    or the file was not read to the end."""
    # Largest first (popped from the end): a long PDF started last would keep the others waiting for it alone.
    todo = sorted(enumerate(items), key=lambda pair: len(pair[1].data))
    ctx = _context()
    at_once = _POOL.size()
    with _POOL.lock:
        _POOL._check(ctx)
        busy: list[_Reader] = []
        try:
            while todo or busy:
                while todo and len(busy) < at_once:
                    index, item = todo.pop()
                    reader = _give(ctx, index, item, limits, then)
                    if reader is None:
                        yield index, _finish(item, ReadResult(readable=False, reason="the reader crashed")), None
                    else:
                        reader.item = item
                        busy.append(reader)
                if not busy:
                    continue
                now = time.monotonic()
                ready = wait_any([r.conn for r in busy], timeout=max(0.0, min(r.deadline for r in busy) - now))
                for reader in list(busy):
                    if reader.conn in ready:
                        busy.remove(reader)
                        item = reader.item
                        result, extra = _collect(reader)
                        yield reader.index, _finish(item, result), extra
                    elif time.monotonic() >= reader.deadline:
                        busy.remove(reader)
                        reader.kill()
                        reason = f"reading took longer than {_seconds(reader.limits.timeout)} s"
                        yield reader.index, _finish(reader.item, ReadResult(readable=False, reason=reason)), None
        finally:
            for reader in busy:  # the caller stopped early: what these readers do is not wanted any more
                reader.kill()


def _give(ctx, index: int, item: FileItem, limits: ReadLimits, then) -> _Reader | None:
    """A reader that has the file; a fresh one if an idle reader died meanwhile; None if none can take it."""
    for _ in range(2):
        reader = _POOL.take(ctx)
        try:
            reader.give(index, item, limits, then)
            return reader
        except OSError:  # BrokenPipeError, ConnectionResetError: it died between files
            reader.kill()
    return None


def _collect(reader: _Reader) -> tuple[ReadResult, Any]:
    try:
        result, extra, retire = reader.conn.recv()
    except (EOFError, OSError):
        reader.close(wait=True)
        return ReadResult(readable=False, reason="the reader crashed"), None
    reader.item = None
    if retire:
        reader.close(wait=True)
    else:
        _POOL.idle.append(reader)
    return result, extra


def _finish(item: FileItem, result: ReadResult) -> ReadResult:
    if not result.format:  # the reader died before saying; the content still tells what it was
        from intake.readers import detect_format

        result.format = detect_format(item)
    return result


def read_isolated(item: FileItem, limits: ReadLimits = DEFAULT_LIMITS) -> ReadResult:
    """Read `item` in a reader process with a memory cap and a wall-clock timeout; never raises for bad files."""
    [(_, result, _)] = list(read_each([item], limits))
    return result
