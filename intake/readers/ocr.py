"""Runs the tesseract command on page images, Swedish and English, within a time budget."""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import time

WANTED = ("swe", "eng")
MAX_PIXELS = 40_000_000  # about an A3 page at 300 dpi; more only costs memory and time


def available() -> bool:
    return shutil.which("tesseract") is not None


@functools.lru_cache(maxsize=1)
def _languages() -> str:
    """swe+eng, or whichever of them is installed, so a missing language pack degrades instead of failing."""
    try:
        out = subprocess.run(["tesseract", "--list-langs"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "eng"
    installed = {line.strip() for line in out.splitlines()}
    return "+".join(lang for lang in WANTED if lang in installed) or "eng"


def _env() -> dict[str, str]:
    # One thread: files are read in parallel already, and OpenMP threads eat the child's address-space cap.
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


class Budget:
    """The seconds left for OCR of one file."""

    def __init__(self, seconds: float):
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def ocr_image(image, budget: Budget) -> str | None:
    """Text of one PIL image, or None when the budget ran out or tesseract failed."""
    if budget.left() <= 0:
        return None
    if image.width * image.height > MAX_PIXELS:
        scale = (MAX_PIXELS / (image.width * image.height)) ** 0.5
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    if image.mode not in ("L", "RGB", "1"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast: the bytes only travel through a pipe
    try:
        done = subprocess.run(["tesseract", "stdin", "stdout", "-l", _languages()], input=buf.getvalue(),
                              capture_output=True, timeout=budget.left(), env=_env())
    except subprocess.TimeoutExpired:
        return None
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", "replace")
