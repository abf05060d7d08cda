"""The large crash-and-outage run: hundreds of application mails, dozens of SIGKILLs of the daemon, and the IMAP
server, the SMTP server and the database restarted under it; prints the counts that show nothing was lost and
nothing doubled (exit 0), or what went wrong (exit 1).

    .venv/bin/python scripts/crash_test.py                       # 300 mails, 40 kills, SQLite
    .venv/bin/python scripts/crash_test.py --store postgresql    # a private PostgreSQL, restarted too
    .venv/bin/python scripts/crash_test.py --mails 50 --kills 10 --no-outages

Everything runs on loopback in a temporary folder (a private Dovecot, an aiosmtpd SMTP server, the database);
nothing of the machine's own services is touched. tests/test_crash.py runs a small version in the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import MAILBOX_PASSWORD, MAILBOX_USER, write_config  # noqa: E402
from tests.samples.variants import labelled_set  # noqa: E402
from tests.support import crash  # noqa: E402
from tests.support.dovecot import Dovecot, make_rundir  # noqa: E402
from tests.support.postgres import PrivatePostgres  # noqa: E402
from tests.support.smtp_sink import SmtpSink  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mails", type=int, default=300, help="application mails to deliver (default 300)")
    ap.add_argument("--kills", type=int, default=40, help="SIGKILLs of the daemon while it works (default 40)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the mails and of the moments (default 1)")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--no-outages", action="store_true", help="only kills; no IMAP, SMTP or database restarts")
    ap.add_argument("--keep", action="store_true", help="keep the working folder (logs, database) afterwards")
    args = ap.parse_args(argv)

    work = make_rundir("hdcrash")
    print(f"working folder: {work}")
    t0 = time.monotonic()
    mails = [m.raw for m in labelled_set(seed=args.seed, n=args.mails)]
    print(f"generated {len(mails)} application mails ({sum(map(len, mails)) / 1e6:.0f} MB) in "
          f"{time.monotonic() - t0:.0f} s")
    dovecot = Dovecot(work / "dovecot", users={MAILBOX_USER: MAILBOX_PASSWORD})
    sink = SmtpSink()
    pg = None
    try:
        dovecot.start()
        sink.start()
        if args.store == "postgresql":
            pg = PrivatePostgres(work / "pg").start()
            url = pg.url
        else:
            url = f"sqlite:///{work / 'halsodata.db'}"
        path = write_config(work / "halsodata.toml", imap_port=dovecot.imap_port, smtp_port=sink.port,
                            store_url=url)
        counts = crash.run(mails=mails, dovecot=dovecot, password=MAILBOX_PASSWORD, sink=sink, config_path=path,
                           store_url=url, workdir=work, kills=args.kills, seed=args.seed, pg=pg,
                           outages=() if args.no_outages else ("imap", "smtp", "db"),
                           kill_after=(2.0, 8.0), finish_timeout=max(600, 3 * len(mails)),
                           say=lambda line: print(f"  {line}", flush=True))
    finally:
        sink.stop()
        dovecot.stop()
        if pg is not None:
            pg.stop("immediate")
    print(f"\ncrash-and-outage run, {args.store}, seed {args.seed}:")
    for line in counts.lines():
        print("  " + line)
    if not args.keep and not counts.problems:
        shutil.rmtree(work, ignore_errors=True)
    elif counts.problems:
        print(f"logs and database kept in {work}")
    return 1 if counts.problems else 0


if __name__ == "__main__":
    sys.exit(main())
