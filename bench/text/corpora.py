"""Human-written text from Debian packages (nothing is downloaded: install them with apt-get).

- ``python3.11-doc``: the Python 3.11 documentation's reStructuredText sources (modern technical English);
  the bench model and tokenizer are trained on the files whose path hashes to the training split, and the
  other files give held-out human paragraphs.
- ``bible-kjv-text`` + ``bible-kjv`` (the ``bible`` program that reads it): the King James Version, as passages
  of consecutive verses.
- ``fortunes``: the fortune-cookie files (quotations, jokes, literature), one text per cookie.
- ``jargon-text``: the Jargon File 4.4.7 (hacker slang dictionary), one text per paragraph.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

PYDOC = Path("/usr/share/doc/python3.11/html/_sources")
FORTUNES = Path("/usr/share/games/fortunes")
JARGON = Path("/usr/share/doc/jargon-text/jargon.txt.gz")
PACKAGES = "python3.11-doc bible-kjv-text bible-kjv fortunes jargon-text"

_ROLE = re.compile(r":[a-z:]+:`!?~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]*)``")
_LINK = re.compile(r"`([^`<]*?)\s*<[^>]*>`_+")
_STAR = re.compile(r"\*\*?([^*]+)\*\*?")


def missing() -> list[str]:
    """Packages whose files are absent (the bench prints the apt-get line)."""
    out = []
    if not PYDOC.is_dir():
        out.append("python3.11-doc")
    if shutil.which("bible") is None or not Path("/usr/lib/bible.data").exists():
        out += ["bible-kjv", "bible-kjv-text"]
    if not (FORTUNES / "fortunes").exists():
        out.append("fortunes")
    if not JARGON.exists():
        out.append("jargon-text")
    return out


def _clean_rst(par: str) -> str:
    par = _ROLE.sub(r"\1", par)
    par = _LINK.sub(r"\1", par)
    par = _LITERAL.sub(r"\1", par)
    par = _STAR.sub(r"\1", par)
    return " ".join(par.split())


def _in_training_split(path: Path) -> bool:
    return hashlib.sha256(str(path.relative_to(PYDOC)).encode()).digest()[0] < 230  # ~90%


def python_docs(*, training: bool, min_words: int = 20) -> list[str]:
    """Prose paragraphs of the Python docs (code blocks, directives, tables and titles dropped)."""
    out = []
    for path in sorted(PYDOC.rglob("*.rst.txt")):
        if _in_training_split(path) != training:
            continue
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            lines = block.splitlines()
            if not lines or lines[0].startswith((" ", "\t", "..", ">>>", "+", "=", "-", "*" * 3, "|")):
                continue
            if any(set(x.strip()) <= set("=-~^*#+") and x.strip() for x in lines):
                continue
            par = _clean_rst(block)
            if par.endswith("::"):
                par = par[:-1]
            if len(par.split()) >= min_words:
                out.append(par)
    return out


def kjv(*, min_words: int = 40, max_words: int = 300) -> list[str]:
    """The King James Version as passages of consecutive verses, 40-300 words each."""
    text = subprocess.run(["bible", "-l10000", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    verses = [" ".join(m.split()) for m in re.split(r"\n\s*\d+ ", text) if m.strip()]
    out, cur = [], []
    for v in verses:
        v = re.sub(r"^[A-Z0-9][A-Za-z0-9 ]* \d+\s*", "", v) if v[:1].isupper() and " " not in v[:3] else v
        cur.append(v)
        words = sum(len(x.split()) for x in cur)
        if words >= min_words and (words >= max_words // 2 or len(cur) >= 6):
            out.append(" ".join(cur))
            cur = []
    return out


def fortunes(*, min_words: int = 12) -> list[str]:
    out = []
    for path in sorted(FORTUNES.iterdir()):
        if path.suffix or not path.is_file():
            continue
        raw = path.read_bytes().decode("utf-8", errors="replace")
        for cookie in re.split(r"\n%\n", raw):
            if len(cookie.split()) >= min_words and not re.search(r"[|\\/_]{4,}", cookie):  # no ASCII art
                out.append(" ".join(cookie.split()))
    return out


def jargon(*, min_words: int = 20) -> list[str]:
    """The Jargon File's entries (the text after each ':headword:' line), one text per entry."""
    raw = gzip.decompress(JARGON.read_bytes()).decode("utf-8", errors="replace")
    out = []
    for entry in re.split(r"\n\s*:[^:\n]+:[^\n]*\n", raw)[1:]:
        text = " ".join(entry.replace("{", "").replace("}", "").split())
        if len(text.split()) >= min_words:
            out.append(text)
    return out


def human_texts() -> dict[str, list[str]]:
    """The human-written texts the false-positive count runs on, by source."""
    return {
        "kjv": kjv(),
        "fortunes": fortunes(),
        "jargon": jargon(),
        "python-docs (held out)": python_docs(training=False),
    }
