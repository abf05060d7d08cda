"""Backlog throughput against the floor, on a real local Dovecot and SMTP server.

    .venv/bin/python bench/backlog.py [--mails 1000] [--seed 8] [--profile FILE]

Generates N distinct application mails (tests/samples: 4-8 attachments, PDFs of 1-30 pages, DOCX, XLSX, some
CSV/ODT; zips, forwards, winmail.dat), delivers them over LMTP, then
  1. the floor: one process fetches every mail over IMAP (UID FETCH BODY.PEEK[], one message at a time, as the
     daemon does) and parses it with mail-parser, nothing more;
  2. `halsodata run --once` (a new process, SQLite store, replies to the SMTP sink), timed to its exit,
     with its resident memory (own and with its child processes: the preparer and the readers) sampled every 50 ms.
Prints mails per second for both, their ratio, and memory over the run. `--profile FILE` runs halsodata
under cProfile (slower; for finding hot spots, not for figures).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as sup  # noqa: E402


def cpu_seconds() -> float:
    """CPU time (user + system) of every finished child process and their children, so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor(bench: sup.Bench) -> tuple[float, int]:
    """Seconds to fetch and parse every mail in INBOX, in a fresh process like the real run."""
    code = (
        "import sys, time, imapclient, mailparser\n"
        "t = time.monotonic()\n"
        f"c = imapclient.IMAPClient('127.0.0.1', port={bench.dovecot.imap_port}, ssl=False)\n"
        f"c.login({sup.USER!r}, {sup.PASSWORD!r})\n"
        "c.select_folder('INBOX', readonly=True)\n"
        "n = 0\n"
        "for uid in c.search(['UNDELETED']):\n"
        "    raw = c.fetch([uid], ['BODY.PEEK[]'])[uid][b'BODY[]']\n"
        "    mailparser.parse_from_bytes(raw)\n"
        "    n += 1\n"
        "c.logout()\n"
        "print(n, time.monotonic() - t)\n"
    )
    start = time.monotonic()
    out = subprocess.run([sup.PYTHON, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return time.monotonic() - start, int(out[0])


def run_once(bench: sup.Bench, profile: str | None) -> tuple[float, sup.RssWatch, subprocess.CompletedProcess]:
    cmd = bench.halsodata("run", "--once")
    if profile:
        cmd = [sup.PYTHON, "-m", "cProfile", "-o", profile, "-m", "intake.cli", "--config", str(bench.config),
               "run", "--once"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=sup.ROOT)
    watch = sup.RssWatch(proc.pid)
    watch.start()
    out, err = proc.communicate()
    elapsed = time.monotonic() - start
    watch.stop()
    return elapsed, watch, subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def outcomes(bench: sup.Bench) -> dict[str, int]:
    import sqlite3

    con = sqlite3.connect(bench.workdir / "halsodata.db")
    try:
        return dict(con.execute("select status, count(*) from inboundmail group by status").fetchall())
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--profile", metavar="FILE", help="run halsodata under cProfile and write the stats there")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (database, files) afterwards")
    args = ap.parse_args(argv)

    print(f"machine: {sup.machine()}", flush=True)
    t = time.monotonic()
    mails = sup.application_mails(args.mails, args.seed)
    files = sum(len(m.labels) for m in mails)
    size = sum(len(m.raw) for m in mails)
    print(f"generated {len(mails)} mails ({files} documents, {size / 1e6:.1f} MB) in {time.monotonic() - t:.1f} s",
          flush=True)
    bench = sup.start()
    try:
        t = time.monotonic()
        bench.deliver(mails)
        print(f"delivered over LMTP in {time.monotonic() - t:.1f} s", flush=True)

        cpu = cpu_seconds()
        floor_s, fetched = floor(bench)
        floor_cpu = cpu_seconds() - cpu
        assert fetched == len(mails), f"the floor saw {fetched} mails, not {len(mails)}"
        print(f"floor (IMAP fetch + mail-parser, one process): {floor_s:.1f} s, {len(mails) / floor_s:.1f} mails/s; "
              f"CPU {floor_cpu:.1f} s", flush=True)

        cpu = cpu_seconds()
        run_s, watch, done = run_once(bench, args.profile)
        run_cpu = cpu_seconds() - cpu
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"halsodata run --once exited with {done.returncode}")
        result = outcomes(bench)
        replies = len(bench.sink.messages)
        print(f"halsodata run --once: {run_s:.1f} s, {len(mails) / run_s:.1f} mails/s; outcomes {result}; "
              f"{replies} replies; CPU {run_cpu:.1f} s (with the preparer and reader processes; Dovecot and the "
              "SMTP sink not counted)",
              flush=True)
        print(f"ratio to the floor: {run_s / floor_s:.2f}x")
        samples = watch.samples
        if samples:
            marks = [samples[min(len(samples) - 1, int(len(samples) * q))] for q in (0.1, 0.25, 0.5, 0.75, 0.99)]
            print("resident memory of the halsodata process at 10/25/50/75/99% of the run: "
                  + ", ".join(f"{own / 1024:.0f}" for _, own, _ in marks) + " MB; "
                  f"peak {watch.peak_own_mb:.0f} MB; largest child process (preparer or reader) "
                  f"{watch.peak_child_mb:.0f} MB; "
                  f"whole tree (PSS) {watch.peak_tree_mb:.0f} MB")
        if args.profile:
            print(f"profile written to {args.profile} (times under cProfile are not the figures)")
    finally:
        sup.stop(bench, keep=args.keep)
        if args.keep:
            print(f"kept {bench.workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
