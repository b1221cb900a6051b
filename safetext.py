"""Characters that no form field, mail header or XML document may carry, and how each place keeps them out.

Forms refuse control characters beside their field (forms.py). Whatever is already stored — typed before
that check, imported, or written into the database by hand — is made safe again where it leaves the blog:
one line for a mail header (a line break there would end the header, or start a new one), and only the
characters XML 1.0 allows in a feed or sitemap (one U+000B makes the whole document unreadable).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the Unicode line and paragraph separators (Python's splitlines() breaks on them
# too) and the two non-characters: nothing a person means to type into a one-line field.
NOT_IN_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")
# The same in a text of several lines, which keeps its tabs and line breaks.
NOT_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")
# Everything outside XML 1.0's Char production: no escape makes these valid, not even &#11;.
NOT_IN_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def one_line(text: str) -> str:
    """Return ``text`` on one line: control characters and line breaks become spaces, runs of spaces one."""
    return " ".join(NOT_IN_ONE_LINE.sub(" ", text).split())


def xml_safe(document: str) -> str:
    """Return ``document`` without the characters XML 1.0 cannot hold, so that every reader can parse it."""
    return NOT_IN_XML.sub("", document)
