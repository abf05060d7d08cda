"""A prefilter for regexes run over whole documents: most patterns occur in no given document, and testing for the
plain text every match must contain is far cheaper than running the regex."""

from __future__ import annotations

import re

try:  # the regex parser, to find the plain text every match of a pattern must contain
    from re import _constants as _sre, _parser as _sre_parser
except ImportError:  # Python < 3.11
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parser  # type: ignore[no-redef]


def _required(items) -> list[str] | None:
    """Lower-case strings one of which every match of this parsed (sub)pattern contains; None if none is known."""
    candidates: list[list[str]] = []
    run: list[str] = []

    def close_run() -> None:
        if len(run) >= 3:
            candidates.append(["".join(run)])
        run.clear()

    for op, av in items:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        close_run()
        if op is _sre.SUBPATTERN:
            inner = _required(av[-1])
            if inner:
                candidates.append(inner)
        elif op is _sre.BRANCH:
            alternatives = [_required(branch) for branch in av[1]]
            if all(alternatives):
                candidates.append([lit for alt in alternatives for lit in alt])
    close_run()
    if not candidates:
        return None
    best = max(candidates, key=lambda alts: min(len(lit) for lit in alts))
    return [lit.lower() for lit in best] if all(max(lit) <= "\xff" for lit in best) else None


def _case_traps() -> re.Pattern:
    """Characters beyond Latin-1 that a case-insensitive regex matches with a Latin-1 letter (the Kelvin sign, the
    Ångström sign, long s, dotless i, ...), or that lower() turns into Latin-1 or into two characters: where one
    occurs, text.lower() is not a faithful stand-in for re.IGNORECASE, and the prefilter stands aside."""
    latin1 = re.compile(r"[\x00-\xff]", re.I)
    traps = [ch for ch in map(chr, range(0x100, 0x10000))
             if (ch.lower() != ch or ch.upper() != ch)
             and (latin1.match(ch) or len(ch.lower()) != 1 or ch.lower() <= "\xff")]
    return re.compile("[" + "".join(re.escape(ch) for ch in traps) + "]")


CASE_TRAPS = _case_traps()


def required(pattern: str, flags: int = 0) -> list[str] | None:
    """Lower-case strings one of which every match of `pattern` contains; None if none is known."""
    return _required(_sre_parser.parse(pattern, flags).data)


def lowered(text: str) -> str | None:
    """`text` in lower case to look for required strings in, or None where lower() is no faithful stand-in for
    re.IGNORECASE (then every regex must run)."""
    return None if CASE_TRAPS.search(text) else text.lower()


class Guarded:
    """A compiled regex and the strings one of which its every match contains."""

    def __init__(self, rx: re.Pattern):
        self.rx = rx
        self.needs = required(rx.pattern, rx.flags)

    def possible(self, low: str | None) -> bool:
        """False only when no match can be in the text whose lowered form (see `lowered`) is `low`."""
        return low is None or self.needs is None or any(lit in low for lit in self.needs)


def _top_level_branches(pattern: str) -> list[str]:
    """`pattern` split at the `|` that are not inside a group or a character class."""
    out, depth, start, i, in_class, start_class = [], 0, 0, 0, False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]" or i == start_class + 1 or (i == start_class + 2 and pattern[start_class + 1] == "^")
        elif ch == "[":
            in_class, start_class = True, i
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:])
    return out


_UNSPLITTABLE = re.compile(r"\\[1-9]|\(\?P=|\(\?[aiLmsux]+\)")


class Narrowed(Guarded):
    """A regex of alternatives ("a|b|c") that, for a given text, runs only the alternatives whose required strings
    occur in it: one alternative that cannot match anywhere in the text never decides a match, so leaving it out
    changes nothing but the time. Group numbers are those of the narrowed pattern: for callers of group(0) only."""

    def __init__(self, rx: re.Pattern):
        super().__init__(rx)
        branches = _top_level_branches(rx.pattern)
        try:
            for branch in branches:
                re.compile(branch, rx.flags)
        except re.error:  # not split where the regex parser would: run it whole
            branches = [rx.pattern]
        if _UNSPLITTABLE.search(rx.pattern):  # back-references or global inline flags tie the alternatives together
            branches = [rx.pattern]
        self._branches = branches
        self._needs = [required(b, rx.flags) for b in self._branches]
        self._cache: dict[tuple[int, ...], re.Pattern] = {}

    def regex_for(self, low: str | None) -> re.Pattern | None:
        """The regex to run over the text lowered to `low`; None when nothing in it can match."""
        if low is None or len(self._branches) == 1:
            return self.rx if self.possible(low) else None
        kept = tuple(i for i, needs in enumerate(self._needs) if needs is None or any(lit in low for lit in needs))
        if not kept:
            return None
        if len(kept) == len(self._branches):
            return self.rx
        rx = self._cache.get(kept)
        if rx is None:
            rx = self._cache[kept] = re.compile("|".join(f"(?:{self._branches[i]})" for i in kept), self.rx.flags)
        return rx
