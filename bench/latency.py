"""Delivery-to-acknowledgment latency with the daemon running on IDLE, on a real local Dovecot and SMTP server.

    .venv/bin/python bench/latency.py [--mails 50] [--seed 9] [--gap 1.0]

Starts `halsodata run` (the daemon, IMAP IDLE) against a private Dovecot and an SMTP sink, waits until it is
connected, then delivers N application mails one at a time over LMTP. For each mail it measures from the end of
the LMTP delivery (the mail is in the mailbox) to the moment the SMTP sink has the acknowledgment that answers it
(matched by In-Reply-To), and waits `--gap` seconds before delivering the next one. Prints p50, p95 and max.
"""

from __future__ import annotations

import argparse
import email
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as sup  # noqa: E402


def _first_reply_to(bench: sup.Bench, message_id: str, since: int) -> float | None:
    for at, received in list(bench.arrivals)[since:]:
        msg = email.message_from_bytes(received.data)
        if (msg.get("In-Reply-To") or "").strip() == message_id:
            return at
    return None


def why_not(bench: sup.Bench, message_id: str) -> str:
    """What the daemon's database says about a mail that got no acknowledgment in time."""
    import sqlite3

    con = sqlite3.connect(bench.workdir / "halsodata.db")
    try:
        mail = con.execute("select status, outcome, case_id from inboundmail where message_id = ?",
                           (message_id,)).fetchone()
        if mail is None:
            return "not taken in"
        replies = con.execute("select type, status, note from outboxmail where in_reply_to = ?",
                              (message_id,)).fetchall()
        return f"{mail[0]} ({mail[1]}); replies: " + (", ".join(f"{t} {s} {n!r}" for t, s, n in replies) or "none")
    finally:
        con.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]  # nearest rank


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=50)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--gap", type=float, default=1.0, help="seconds between an acknowledgment and the next mail")
    ap.add_argument("--timeout", type=float, default=60.0, help="give up on one acknowledgment after this long")
    args = ap.parse_args(argv)

    print(f"machine: {sup.machine()}", flush=True)
    mails = sup.application_mails(args.mails, args.seed)
    bench = sup.start(level="INFO")
    daemon = subprocess.Popen(bench.halsodata("run"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              cwd=sup.ROOT)
    connected = threading.Event()
    log: list[str] = []

    def follow() -> None:
        for line in daemon.stderr:
            log.append(line)
            if "connected to the mailbox (IDLE)" in line:
                connected.set()

    threading.Thread(target=follow, daemon=True).start()
    latencies: list[float] = []
    try:
        if not connected.wait(30):
            raise SystemExit("the daemon did not connect with IDLE:\n" + "".join(log[-20:]))
        time.sleep(1.0)  # the first cycle (nothing to do) and into IDLE
        watch = sup.RssWatch(daemon.pid, interval=0.2)
        watch.start()
        for i, m in enumerate(mails):
            since = len(bench.arrivals)
            bench.deliver([m])
            delivered = time.monotonic()
            message_id = m.message_id
            arrived = None
            while arrived is None and time.monotonic() - delivered < args.timeout:
                time.sleep(0.005)
                arrived = _first_reply_to(bench, message_id, since)
            if arrived is None:
                print(f"mail {i + 1}: no acknowledgment within {args.timeout:g} s: {why_not(bench, message_id)}",
                      flush=True)
                continue
            latencies.append(arrived - delivered)
            print(f"mail {i + 1:3d}: {latencies[-1]:.2f} s", flush=True)
            time.sleep(args.gap)
        watch.stop()
    finally:
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
        sup.stop(bench)
    if latencies:
        print(f"delivery to acknowledgment over {len(latencies)} of {len(mails)} mails: "
              f"p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s, "
              f"max {max(latencies):.2f} s; daemon peak RSS {watch.peak_own_mb:.0f} MB "
              f"(largest child process (preparer or reader) {watch.peak_child_mb:.0f} MB)")
    return 0 if len(latencies) == len(mails) else 1


if __name__ == "__main__":
    raise SystemExit(main())
