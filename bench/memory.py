"""Peak memory while taking in one 40 MB mail with a 30 MB PDF, on a real local Dovecot and SMTP server.

    .venv/bin/python bench/memory.py [--pdf-mb 30]

Builds an application mail whose ethics application (text on every page, so no OCR) carries photographs
(incompressible images) up to `--pdf-mb` MB, next to a normal application form, decision, research plan and
variable list; delivers it and runs `halsodata run --once`, sampling every 20 ms. Prints the daemon process's
peak resident set (VmHWM), the largest peak of any child process (the preparer or a reader), and the peak
proportional set size of the whole process tree (pages a child shares with the process it was forked from
counted once).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _support as sup  # noqa: E402


def big_pdf(megabytes: float) -> bytes:
    """An ethics application with photographed appendices: text on every page, one large photo per page."""
    from fpdf import FPDF
    from PIL import Image

    pdf = FPDF(format="A4")
    pdf.set_title("Ansökan om etikprövning med bilagor")
    side = 1000  # 1000 x 1000 RGB noise: about 3 MB per page, incompressible
    pages = max(1, round(megabytes * 1_000_000 / (3 * side * side)))
    for i in range(pages):
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.cell(0, 10, "Ansokan om etikprovning" if i == 0 else f"Bilaga {i}: fotodokumentation av studiemiljon",
                 new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 5, "Forskningshuvudman: Karolinska Institutet. Projekttitel: Aterinlaggning vid hjartsvikt. "
                             "Bilagan visar lokalerna dar datamaterialet hanteras och forvaras. " * 3)
        image = Image.frombytes("RGB", (side, side), os.urandom(3 * side * side))
        pdf.image(image, x=20, y=60, w=170)
    return bytes(pdf.output())


def the_mail(pdf_mb: float):
    from tests.samples import documents as d
    from tests.samples.mails import application_body, att, build_mail
    from tests.samples.projects import HEART_FAILURE as p
    from tests.samples.demo import _at

    files = [
        att("Ansökan_signerad.pdf", d.application_form(p, signature="handwritten"), "application_form"),
        att(f"Etikansökan {p.dnr} inkl bilagor.pdf", big_pdf(pdf_mb), "ethics_application"),
        att(f"EPM beslut {p.dnr}.pdf", d.ethics_decision(p, "approved"), "ethics_decision"),
        att("Forskningsplan v3.docx", d.research_plan(p), "research_plan"),
        att("variabellista.xlsx", d.variable_list(p), "variable_list"),
    ]
    return build_mail(name="bench-memory", sender=p.applicant, lang="sv", sent=_at(2, 9, 14),
                      subject=f"Ansökan om hälsodata – återinläggning vid hjärtsvikt (Dnr {p.dnr})",
                      body=application_body(p, files), attachments=files), len(files[1].data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pdf-mb", type=float, default=30.0)
    args = ap.parse_args(argv)

    print(f"machine: {sup.machine()}", flush=True)
    mail, pdf_size = the_mail(args.pdf_mb)
    print(f"mail {len(mail.raw) / 1e6:.1f} MB with a {pdf_size / 1e6:.1f} MB PDF", flush=True)
    bench = sup.start()
    try:
        bench.deliver([mail])
        start = time.monotonic()
        proc = subprocess.Popen(bench.halsodata("run", "--once"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=sup.ROOT)
        watch = sup.RssWatch(proc.pid, interval=0.02)
        watch.start()
        out, err = proc.communicate()
        elapsed = time.monotonic() - start
        watch.stop()
        if proc.returncode != 0:
            print(err[-3000:], file=sys.stderr)
            raise SystemExit(f"halsodata run --once exited with {proc.returncode}")
        import sqlite3

        con = sqlite3.connect(bench.workdir / "halsodata.db")
        status, outcome = con.execute("select status, outcome from inboundmail").fetchone()
        con.close()
        print(f"halsodata run --once: {elapsed:.1f} s; {status}: {outcome}")
        print(f"peak resident memory: daemon process {watch.peak_own_mb:.0f} MB (VmHWM); largest child process "
              f"(preparer or reader) {watch.peak_child_mb:.0f} MB (VmHWM); whole tree {watch.peak_tree_mb:.0f} MB "
              "(PSS, sampled)")
    finally:
        sup.stop(bench)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
