"""Text out of the files people check: plain text, Markdown, HTML and Word (.docx), all in memory.

Only the words matter to a text watermark, so markup is dropped: HTML tags (scripts and styles with their
content), Word's XML. Nothing is stored or logged. Written with the standard library (``html.parser``,
``zipfile``, ``xml.etree``): these formats need only their text extracted, and a .docx is a zip of XML.
"""

from __future__ import annotations

import html.parser
import io
import re
import zipfile
from xml.etree import ElementTree

from assay.errors import InvalidInput, TooLarge, UnsupportedMedia

__all__ = ["MAX_TEXT_CHARS", "TEXT_SUFFIXES", "extract_text", "is_text_name"]

MAX_TEXT_CHARS = 1_000_000
TEXT_SUFFIXES = (".txt", ".text", ".md", ".markdown", ".html", ".htm", ".docx")
_DOCX_XML_MAX = 50_000_000
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def is_text_name(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES)


class _HTMLText(html.parser.HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "blockquote"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _decode(data: bytes, name: str) -> str:
    for enc in ("utf-8-sig", "utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UnsupportedMedia(
            f"{name} is not UTF-8 text",
            hint="save it as UTF-8, or check a .txt, .md, .html or .docx file",
        ) from None


def _docx(data: bytes, name: str) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            info = z.getinfo("word/document.xml")
            if info.file_size > _DOCX_XML_MAX:  # a zip bomb declares a huge size; refuse before inflating
                raise TooLarge(f"{name}'s text is over {_DOCX_XML_MAX:,} bytes", hint="check a shorter document")
            xml = z.read(info)
    except (zipfile.BadZipFile, KeyError, OSError):
        raise InvalidInput(f"{name} is not a Word document (.docx)", hint="save it as .docx or as plain text") from None
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        raise InvalidInput(f"{name} is a damaged Word document", hint="save it again, or as plain text") from None
    paragraphs = []
    for p in root.iter(f"{_W}p"):
        paragraphs.append("".join(t.text or "" for t in p.iter(f"{_W}t")))
    return "\n".join(paragraphs)


def extract_text(data: bytes, name: str = "the text", *, kind: str | None = None) -> str:
    """The text of a .txt/.md/.html/.docx file (``kind`` "text", "html" or "docx"; by default from the name and
    the content; anything else is read as UTF-8 text)."""
    lower = name.lower()
    if kind == "docx" or (kind is None and (lower.endswith(".docx") or data[:4] == b"PK\x03\x04")):
        text = _docx(data, name)
    else:
        text = _decode(data, name)
        html_like = lower.endswith((".html", ".htm")) or re.match(r"\s*(<!doctype html|<html)", text[:200], re.I)
        if kind == "html" or (kind is None and html_like):
            parser = _HTMLText()
            parser.feed(text)
            parser.close()
            text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r"\n\s*\n+", "\n\n", text).strip()
    if not text:
        raise InvalidInput(f"{name} has no text to check", hint="give a file with some words in it")
    if len(text) > MAX_TEXT_CHARS:
        raise TooLarge(
            f"{name} has {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,}",
            hint="check a part of it (a marked passage is found inside a longer text)",
        )
    return text
