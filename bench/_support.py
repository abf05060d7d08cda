"""What the benches share: realistic application mails, a private Dovecot and SMTP sink, a configuration,
and a way to watch a process tree's resident memory.

Nothing here is timed; each bench times what it says it times.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.samples import variants  # noqa: E402
from tests.samples.mails import SampleMail  # noqa: E402
from tests.support.dovecot import Dovecot, make_rundir  # noqa: E402
from tests.support.smtp_sink import Received, SmtpSink  # noqa: E402

USER, PASSWORD = "intake@halsodata.test", "bench-secret"
HALSODATA = str(ROOT / ".venv" / "bin" / "halsodata")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
MAX_FILES = 8


# --- mails ---------------------------------------------------------------------------------------------------------

def _appendix_pool(seed: str) -> list[bytes]:
    """Short PDFs of the sample generator to make an application's appendices from."""
    from tests.samples import agreements as a
    from tests.samples import documents as d
    from tests.samples.projects import HEART_FAILURE, STATIN

    return [d.participant_information(HEART_FAILURE, "1.0"), a.dpia(HEART_FAILURE), a.data_transfer_agreement(STATIN),
            d.application_form(STATIN, signature="handwritten"), a.curriculum_vitae(STATIN.applicant),
            a.dpo_statement(HEART_FAILURE)]


_LONG: dict[tuple[bytes, int], bytes] = {}


def _with_appendices(pdf: bytes, pages: int, pool: list[bytes]) -> bytes:
    """`pdf` followed by appendix pages up to `pages` pages: an ethics application "with appendices"."""
    import pypdf

    key = (pdf, pages)
    if key not in _LONG:
        writer = pypdf.PdfWriter(clone_from=io.BytesIO(pdf))
        i = 0
        while len(writer.pages) < pages:
            writer.append(io.BytesIO(pool[i % len(pool)]))
            i += 1
        while len(writer.pages) > pages and len(writer.pages) > 1:
            writer.remove_page(len(writer.pages) - 1)
        out = io.BytesIO()
        writer.write(out)
        _LONG[key] = out.getvalue()
    return _LONG[key]


def _unique(data: bytes, tag: str) -> bytes:
    """The same document, byte-distinct per mail, so nothing downstream sees one file twice."""
    if data.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return data + f"\n% {tag}\n".encode()
    if data.startswith(b"PK\x03\x04"):
        src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                dst.writestr(info, src.read(info.filename))
            dst.comment = tag.encode()
        return out.getvalue()
    return data + f"\n{tag}\n".encode() if data[:1] not in (b"\xff", b"\x89") else data


def application_mails(n: int, seed: int = 8) -> list[SampleMail]:
    """`n` distinct application mails from the sample generator: 4-8 attachments (PDFs of 1-30 pages, DOCX, XLSX,
    some CSV and ODT), sent from Outlook, Thunderbird, Apple Mail, Gmail, iPhone; attached, zipped, forwarded as
    message/rfc822 or .eml, inline forwards, winmail.dat. No scans: OCR is a different cost (see RESULTS.md)."""
    pool = _appendix_pool(str(seed))
    original = variants._application_items
    state = {"i": 0}

    def items(plan, rng):
        out = original(plan, rng)[:MAX_FILES]
        local = random.Random(f"bench/{seed}/{plan.index}")
        tag = f"bench-{seed}-{plan.index}"
        for k, it in enumerate(out):
            data = it.data
            if it.kinds[0] == "ethics_application":  # with its appendices: 1 to 30 pages
                data = _with_appendices(data, local.randint(1, 30), pool)
            out[k] = replace(it, data=_unique(data, f"{tag}-{k}"))
        state["i"] += 1
        return out

    variants._application_items = items
    try:
        plans = [replace(p, shape="application", scan="") for p in variants.plans(seed, n)]
        return [variants._build(seed, p) for p in plans]
    finally:
        variants._application_items = original


# --- servers and configuration -------------------------------------------------------------------------------------

@dataclass
class Bench:
    """A private Dovecot, an SMTP sink that notes when each message arrived, and a halsodata configuration."""

    workdir: Path
    dovecot: Dovecot
    sink: SmtpSink
    config: Path
    arrivals: list[tuple[float, Received]]

    def halsodata(self, *args: str) -> list[str]:
        return [HALSODATA, "--config", str(self.config), *args]

    def deliver(self, mails: list[SampleMail]) -> None:
        for m in mails:
            self.dovecot.deliver(USER, m.raw, mail_from=m.sender)

    def imap(self):
        return self.dovecot.imap(USER, PASSWORD)


def start(workdir: Path | None = None, *, level: str = "WARNING", idle_timeout: int = 600) -> Bench:
    workdir = workdir or Path(make_rundir("hdbench"))
    rundir = make_rundir("hdb")
    dovecot = Dovecot(rundir, users={USER: PASSWORD}).start()
    arrivals: list = []
    sink = SmtpSink()
    sink.on_message = lambda received: arrivals.append((time.monotonic(), received))
    sink.start()
    config = workdir / "halsodata.toml"
    config.write_text(textwrap.dedent(f"""\
        [imap]
        host = "127.0.0.1"
        port = {dovecot.imap_port}
        security = "none"
        username = "{USER}"
        password = "{PASSWORD}"
        idle_timeout = {idle_timeout}

        [smtp]
        host = "127.0.0.1"
        port = {sink.port}
        security = "none"
        from_address = "halsodata@region.test"

        [store]
        url = "sqlite:///{workdir}/halsodata.db"
        files = "{workdir}/files"
        key_file = "{workdir}/store.key"

        [cases]
        coordinators = ["handlaggare@region.test"]

        [log]
        level = "{level}"
        """))
    subprocess.run([HALSODATA, "keygen", "--out", str(workdir / "store.key")], check=True, capture_output=True)
    return Bench(workdir, dovecot, sink, config, arrivals)


def stop(bench: Bench, keep: bool = False) -> None:
    bench.sink.stop()
    bench.dovecot.stop()
    shutil.rmtree(bench.dovecot.rundir, ignore_errors=True)
    if not keep:
        shutil.rmtree(bench.workdir, ignore_errors=True)


# --- memory ----------------------------------------------------------------------------------------------------------

def _status_kb(pid: int, *fields: str) -> list[int]:
    values = dict.fromkeys(fields, 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key = line.split(":", 1)[0]
            if key in values:
                values[key] = int(line.split()[1])
    except OSError:
        pass
    return [values[f] for f in fields]


def _pss_kb(pid: int) -> int:
    """Proportional set size: pages shared with the parent (the children are forks) counted once overall."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo += _children(p)
    return pids


class RssWatch(threading.Thread):
    """Samples a process every `interval` seconds until it exits: its resident memory and peak (VmRSS, VmHWM),
    the largest peak of any of its children (the preparer and reader processes), and the whole tree's proportional
    set size."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int, int]] = []  # (time, own VmRSS kB, tree PSS kB)
        self.own_hwm_kb = 0
        self.child_hwm_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self.done.is_set():
            own, hwm = _status_kb(self.pid, "VmRSS", "VmHWM")
            if own == 0 and not Path(f"/proc/{self.pid}").exists():
                break
            self.own_hwm_kb = max(self.own_hwm_kb, hwm)
            pids = tree(self.pid)
            for child in pids[1:]:
                self.child_hwm_kb = max(self.child_hwm_kb, _status_kb(child, "VmHWM")[0])
            self.samples.append((time.monotonic() - start, own, sum(_pss_kb(p) for p in pids)))
            time.sleep(self.interval)

    def stop(self) -> None:
        self.done.set()
        self.join()

    @property
    def peak_own_mb(self) -> float:
        return max(self.own_hwm_kb, max((s[1] for s in self.samples), default=0)) / 1024

    @property
    def peak_child_mb(self) -> float:
        return self.child_hwm_kb / 1024

    @property
    def peak_tree_mb(self) -> float:
        return max((s[2] for s in self.samples), default=0) / 1024


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    load = Path("/proc/loadavg").read_text().split()[:3]
    return (f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu}, {mem / 1048576:.1f} GiB RAM, "
            f"Python {sys.version.split()[0]}, load average {' '.join(load)}")
