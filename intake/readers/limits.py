"""Bounds for reading one file, and a way to read it in a child process that cannot exceed them."""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass

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


class Unreadable(Exception):
    """Raised by a reader when the file cannot be read; the message is the reason shown to people."""


def _seconds(value: float) -> str:
    return f"{value:g}"


def memory_reason(limits: ReadLimits) -> str:
    return f"reading needed more than {limits.memory_mb} MB"


def _child(conn, item: FileItem, limits: ReadLimits) -> None:
    # Own process group, so a timeout also kills the tesseract processes this child starts.
    try:
        os.setpgrp()
    except OSError:
        pass
    if resource is not None:
        cap = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    from intake.readers import read  # late: readers import this module

    try:
        result = read(item, limits)
    except MemoryError:
        result = ReadResult(readable=False, reason=memory_reason(limits))
    except Exception as exc:  # read() already catches reader errors; this is the last line
        result = ReadResult(readable=False, reason=f"the reader failed ({type(exc).__name__})")
    try:
        conn.send(result)
    except MemoryError:
        conn.send(ReadResult(readable=False, reason=memory_reason(limits)))
    conn.close()


def _context():
    # fork starts in milliseconds and keeps test monkeypatches; spawn is the portable fallback.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _kill(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (AttributeError, OSError):  # not yet its own group, or not POSIX
        proc.kill()
    proc.join()


def read_isolated(item: FileItem, limits: ReadLimits = DEFAULT_LIMITS) -> ReadResult:
    """Read `item` in a child process with a memory cap and a wall-clock timeout; never raises for bad files."""
    result = _read_in_child(item, limits)
    if not result.format:  # the child died before saying; the content still tells what it was
        from intake.readers import detect_format

        result.format = detect_format(item)
    return result


def _read_in_child(item: FileItem, limits: ReadLimits) -> ReadResult:
    ctx = _context()
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child_conn, item, limits), daemon=True)
    proc.start()
    child_conn.close()  # so a dead child shows up as EOF instead of a hang
    try:
        if not parent_conn.poll(limits.timeout):
            _kill(proc)
            return ReadResult(readable=False, reason=f"reading took longer than {_seconds(limits.timeout)} s")
        try:
            result = parent_conn.recv()
        except (EOFError, OSError):
            proc.join()
            return ReadResult(readable=False, reason="the reader crashed")
        proc.join(5)
        if proc.is_alive():
            _kill(proc)
        return result
    finally:
        parent_conn.close()
