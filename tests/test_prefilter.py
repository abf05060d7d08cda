"""The regex prefilter skips patterns, and alternatives of patterns, that cannot match a document: it must never
change what is found, only how fast."""

from __future__ import annotations

import random
import re

import pytest

from intake.classify import CUES
from intake.facts import _LINKAGE, _PROCESSOR, _TRANSFER, _WAIVER
from intake.prefilter import Narrowed, _top_level_branches, lowered, required


def test_required_text_is_what_every_match_contains():
    assert required(r"DPIA|konsekvensbedömning", re.I) == ["dpia", "konsekvensbedömning"]
    assert required(r"\bDPIA\b", re.I) == ["dpia"]
    assert required(r"\d{4}-\d{5}") is None  # nothing literal: the regex must always run


def test_alternatives_are_split_only_at_the_top_level():
    assert _top_level_branches(r"a(b|c)|[|x]|d\|e|[]|]f") == [r"a(b|c)", "[|x]", r"d\|e", "[]|]f"]


def test_a_document_with_words_of_one_alternative_runs_only_that_one():
    narrowed = Narrowed(re.compile(r"personuppgiftsbiträde|data processor|molntjänst", re.I))
    assert narrowed.regex_for(lowered("Vi anlitar en data processor.")).pattern == "(?:data processor)"
    assert narrowed.regex_for(lowered("Ingen av dem.")) is None
    assert narrowed.regex_for(None) is narrowed.rx  # unknown text: everything runs


def test_a_character_that_ignorecase_folds_onto_latin1_turns_the_prefilter_off():
    # KELVIN SIGN matches "k" under re.IGNORECASE, but "\u212a".lower() is not "k" in every Python
    text = "Ja, vi gör en \u212aoppling av registren"
    assert lowered(text) is None
    narrowed = Narrowed(re.compile(r"koppling|samkörning", re.I))
    assert narrowed.regex_for(lowered(text)).search(text)


def test_back_references_keep_the_pattern_whole():
    rx = re.compile(r"(a)x\1|b", re.I)
    assert Narrowed(rx).regex_for(lowered("b only")) is rx


_PATTERNS = [cue.regex() for cues in CUES.values() for cue in cues] + [_WAIVER, _LINKAGE, _PROCESSOR, _TRANSFER]


@pytest.mark.parametrize("seed", range(3))
def test_narrowed_patterns_find_exactly_what_the_whole_patterns_find(seed):
    """Texts made of the patterns' own words, shuffled and glued with real-document noise: the narrowed regex
    finds the same matches at the same places as the whole one."""
    rng = random.Random(seed)
    words = sorted({w for rx in _PATTERNS for w in re.findall(r"[a-zåäöé]{3,}", rx.pattern, re.I)})
    noise = ["\n", " ", ". ", ": ", " Nej ", "\n☒ Ja ☐ Nej\n", "(", ")", "-", "2023-01234-01", " för ", " och "]
    narrowed_patterns = [(rx, Narrowed(rx)) for rx in _PATTERNS]
    for _ in range(60):
        text = "".join(rng.choice(words) + rng.choice(noise) for _ in range(rng.randint(5, 80)))
        if rng.random() < 0.3:
            text = text.upper()
        low = lowered(text)
        for rx, narrowing in narrowed_patterns:
            narrowed = narrowing.regex_for(low)
            found = [m.span() for m in narrowed.finditer(text)] if narrowed else []
            assert found == [m.span() for m in rx.finditer(text)], rx.pattern
