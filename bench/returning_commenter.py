"""A returning commenter's cookies, got the way a reader gets them: a real comment through the real form.

The reader opens a post, fills the comment form with "Remember me" ticked and sends it with the form's own
tokens (the bench's blog sets ``COMMENT_MIN_SECONDS`` to 0, so it need not wait). The blog answers with the
signed ``inkwell_commenter`` and ``inkwell_details`` cookies that it reads on every later visit for a year;
bench/run.py then measures the post page as that reader sees it, with wrk and those cookies.
"""

from __future__ import annotations

import re

import requests

COOKIES = ("inkwell_commenter", "inkwell_details")
HIDDEN = re.compile(r'<input[^>]*\btype="hidden"[^>]*>')
NAME = re.compile(r'\bname="([^"]+)"')
VALUE = re.compile(r'\bvalue="([^"]*)"')


def form_tokens(html: str, action: str) -> dict[str, str]:
    """The hidden fields (CSRF token, time shown, reply-to) of the form posting to ``action``."""
    start = html.index(f'action="{action}')
    form = html[start : html.index("</form>", start)]
    fields = {}
    for tag in HIDDEN.findall(form):
        name, value = NAME.search(tag), VALUE.search(tag)
        if name:
            fields[name.group(1)] = value.group(1) if value else ""
    return fields


def commenter_cookie(url: str, slug: str) -> str:
    """Comment on ``slug`` with "Remember me" ticked; return the Cookie header a returning commenter sends."""
    session = requests.Session()
    action = f"/posts/{slug}/comments"
    fields = form_tokens(session.get(f"{url}/posts/{slug}", timeout=30).text, action)
    fields |= {
        "name": "Returning Reader",
        "email": "returning.reader@example.com",
        "website": "",
        "body": "Thank you, I come back to this thread often.",
        "remember": "y",
    }
    answer = session.post(url + action, data=fields, headers={"Origin": url}, allow_redirects=False, timeout=30)
    missing = [name for name in COOKIES if name not in session.cookies]
    if answer.status_code != 303 or missing:
        raise RuntimeError(f"the comment form answered {answer.status_code} without the cookies {missing}")
    return "; ".join(f"{name}={session.cookies[name]}" for name in COOKIES)
