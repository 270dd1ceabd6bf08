"""Edits a reader (or an evader) makes to a text: word deletion, synonym substitution, embedding in human text.

Synonyms come from WordNet 3.0 as Debian's ``wordnet-base`` ships it (``/usr/share/wordnet/data.*``): every
other single-word lemma of a synset the word belongs to, as MarkLLM's SynonymSubstitution editor does with
NLTK's WordNet. The synonyms are not checked against the context, so a substitution can change the meaning: a
stronger edit than a careful human would make, and a weaker one than a paraphrasing model.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

WORDNET = Path("/usr/share/wordnet")
_WORD = re.compile(r"^([^A-Za-z]*)([A-Za-z]+)([^A-Za-z]*)$")


@lru_cache(maxsize=1)
def synonyms() -> dict[str, tuple[str, ...]]:
    table: dict[str, set[str]] = {}
    for part in ("noun", "verb", "adj", "adv"):
        for line in (WORDNET / f"data.{part}").read_text(encoding="latin-1").splitlines():
            if line.startswith(" "):
                continue  # the licence header
            f = line.split(" ")
            count = int(f[3], 16)
            words = [f[4 + 2 * i].lower() for i in range(count)]
            words = [re.sub(r"\(.*\)$", "", w) for w in words if "_" not in w and "-" not in w]
            for w in words:
                table.setdefault(w, set()).update(x for x in words if x != w)
    return {w: tuple(sorted(s)) for w, s in table.items() if s}


def delete_words(text: str, fraction: float, rng: np.random.Generator) -> str:
    words = text.split(" ")
    keep = rng.random(len(words)) >= fraction
    return " ".join(w for w, k in zip(words, keep, strict=True) if k)


def substitute_words(text: str, fraction: float, rng: np.random.Generator) -> str:
    """Replace ``fraction`` of the words (those WordNet knows) with a random synonym, keeping punctuation."""
    table = synonyms()
    words = text.split(" ")
    candidates = []
    for i, w in enumerate(words):
        m = _WORD.match(w)
        if m and m.group(2).lower() in table:
            candidates.append(i)
    want = min(len(candidates), round(fraction * len(words)))
    for i in rng.choice(candidates, size=want, replace=False) if want else []:
        pre, core, post = _WORD.match(words[i]).groups()  # type: ignore[union-attr]
        new = str(rng.choice(table[core.lower()]))
        if core[:1].isupper():
            new = new[:1].upper() + new[1:]
        words[i] = pre + new + post
    return " ".join(words)


def embed(marked: str, human: str, share: float, rng: np.random.Generator) -> str:
    """``marked`` placed at a random point inside human text, so that it makes up ``share`` of the words."""
    hw = human.split()
    need = round(len(marked.split()) * (1 - share) / share)
    hw = (hw * (need // max(1, len(hw)) + 1))[:need]
    cut = int(rng.integers(0, len(hw) + 1))
    return " ".join([*hw[:cut], marked, *hw[cut:]])
