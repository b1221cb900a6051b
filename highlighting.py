"""Fenced code in posts, highlighted by Pygments as the post is rendered (markup.py calls it).

The output is spans with Pygments' short class names ("k", "s2", "nf"…), coloured by static/style.css for the
light and dark schemes (bench/build_code_css.py writes those rules), never a ``style`` attribute: the CSP
forbids inline styles. markup.py's allow-list lets exactly these class names through on ``span``. Pygments is
pinned in requirements.txt, so the names, the CSS and the allow-list agree. Only this module imports Pygments.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING

from pygments.token import STANDARD_TYPES

if TYPE_CHECKING:
    from pygments.formatters import HtmlFormatter

# Pygments' short class names ("k", "s2", "nf"…), the only classes a span may have: they can colour code, and
# name nothing else on the page. Pygments is pinned in requirements.txt, so these and the CSS agree.
HIGHLIGHT_CLASSES = frozenset(name for name in STANDARD_TYPES.values() if name)
# The languages highlighted; a fence naming another is shown plain. A list, not every lexer Pygments has.
HIGHLIGHTED_LANGUAGES = frozenset(
    "bash c cpp css diff dockerfile go html ini java javascript js json jsx kotlin lua make nginx php python"
    " py rb ruby rust sh shell sql swift toml ts typescript xml yaml yml zsh console pycon text".split()
)
HIGHLIGHT_MAX = 20_000  # characters in one fence; a longer one is shown plain
HIGHLIGHT_LINE_MAX = 500  # characters in one line of a fence: the lexers' slow cases are long lines
# Pygments' lexers are regular expressions tried at each position, and many take time quadratic in some
# input (C on a run of blank lines, a diff or console session on one long line, YAML on "@@@…"): 20,000
# such characters take tens of seconds. So highlighting has a budget for the whole post, checked at every
# token and before each fence starts; the fence that would exceed it, and any after it, are shown plain. One
# regular expression can still take long inside a single token, on one long line above all, so a fence with a
# line longer than ``HIGHLIGHT_LINE_MAX`` is shown plain without being lexed. Real code takes milliseconds.
HIGHLIGHT_SECONDS = 0.5
_highlight_deadline: ContextVar[float] = ContextVar("highlight_deadline", default=0.0)


@cache
def _highlighter() -> HtmlFormatter:
    """Pygments' formatter: spans only, as markdown-it wraps them in ``<pre><code class="language-…">``.

    Pygments' formatters and lexers are imported by the first post rendered with a fence to highlight, not by
    every worker as it starts (0.6 MB): pages show posts rendered when they were saved.
    """
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(nowrap=True)


@contextmanager
def highlighting_budget() -> Iterator[None]:
    """Give the code of the post rendered inside this block ``HIGHLIGHT_SECONDS`` in all to be highlighted."""
    budget = _highlight_deadline.set(time.monotonic() + HIGHLIGHT_SECONDS)
    try:
        yield
    finally:
        _highlight_deadline.reset(budget)


class _OutOfTime(Exception):
    """Highlighting went past the post's budget."""


def _tokens_in_time(tokens: Iterator, deadline: float) -> Iterator:
    for token in tokens:
        if time.monotonic() > deadline:
            raise _OutOfTime
        yield token


def highlight_code(code: str, language: str, attributes: str) -> str:
    """Return a fence's code as Pygments' class-named spans, or "" (markdown-it then shows it plain): an
    unknown language, a fence too long, or the post's budget spent (outside ``highlighting_budget``: none)."""
    language, deadline = language.lower(), _highlight_deadline.get()
    if language not in HIGHLIGHTED_LANGUAGES or len(code) > HIGHLIGHT_MAX or time.monotonic() > deadline:
        return ""
    if max(map(len, code.splitlines()), default=0) > HIGHLIGHT_LINE_MAX:
        return ""
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    loading = time.monotonic()
    try:
        lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return ""
    # A language's first use in a process imports its lexer and compiles its patterns: bounded work, whatever the
    # input, so it does not count against the budget (on a loaded machine it alone could spend it).
    deadline += time.monotonic() - loading
    _highlight_deadline.set(deadline)
    spans = io.StringIO()
    try:
        _highlighter().format(_tokens_in_time(lexer.get_tokens(code), deadline), spans)
    except _OutOfTime:
        return ""
    return spans.getvalue()
