"""Reads a picture of a document (photo or scan) by OCR, at most max_ocr_pages frames of it."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, ImageSequence

from intake.documents import ReadResult
from intake.readers import ocr
from intake.readers.limits import ReadLimits, Unreadable

# Pillow's own bomb guard; our OCR downscales anything above ocr.MAX_PIXELS anyway.
Image.MAX_IMAGE_PIXELS = 100_000_000


def read_image(data: bytes, limits: ReadLimits) -> ReadResult:
    result = ReadResult(format="image")
    try:
        picture = Image.open(io.BytesIO(data))
        result.pages = getattr(picture, "n_frames", 1)
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise Unreadable(f"corrupt or oversized image ({type(exc).__name__})") from None
    if not ocr.available():
        result.reason = "image: OCR not available"
        return result
    budget = ocr.Budget(limits.ocr_timeout)
    texts = []
    for number, frame in enumerate(ImageSequence.Iterator(picture)):
        if number >= limits.max_ocr_pages:
            break
        text = ocr.ocr_image(ImageOps.exif_transpose(frame.copy()), budget)  # phone photos are often rotated
        if text is None:
            result.reason = f"OCR stopped after {limits.ocr_timeout:g} s" if budget.left() <= 0 else "OCR failed"
            break
        texts.append(text)
    result.text = "\n\n".join(texts).strip()
    result.ocr = bool(texts)
    return result
