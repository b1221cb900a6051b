"""Demo content: the welcome post a new database starts with, and ``seed-demo``'s posts and comments for trying
Inkwell out or measuring it. It may import the storage and leaf modules (models, markup, pagecache, search).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select

import pagecache
import search
from comment_counts import recount_comments
from database import db
from database import now_utc
from excerpts import opening_text
from markup import render_comment
from markup import render_post
from models import Comment
from models import CommentStatus
from models import Post
from models import PostStatus
from models import Tag
from models import post_tags
from slugs import slugify
from slugs import tags_named

WELCOME_TITLE = "Welcome to Inkwell"
WELCOME_BODY = """\
Inkwell is a small blog you host yourself. This post was written for you when the database was
created, so the home page has something to show. Readers can leave a comment below: try it.

## What readers get

- A home page of recent posts, a page for every post with a permanent address, and tags.
- A comment form that works in any browser, with or without JavaScript. Comments may use a
  little Markdown: *emphasis*, **bold**, `code`, links, quotes and lists.

## Writing and moderating

Create your account in a terminal, in Inkwell's folder, with

```sh
.venv/bin/flask --app app create-admin YOURNAME
```

then log in at `/admin/` to write posts in Markdown (code in a fence that names its language is
highlighted, as above), schedule them, and moderate comments.

By default a new commenter's first comment waits for your approval; once you approve one, that
commenter's next comments appear at once. Set `COMMENT_MODERATION` to `off`, `first-time` or `all` to
choose.
"""

BATCH_SIZE = 5_000
DEMO_TAGS = ["Notes", "Travel", "Cooking", "Books", "Code", "Gardening", "Music", "Photography"]
DEMO_WORDS = (
    "morning light river garden window coffee letter quiet city mountain harbour winter summer "
    "notebook kitchen market station bicycle library evening stone forest music paper lantern"
).split()
DEMO_NAMES = ["Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Alan", "Radia", "Dennis", "Frances"]


def add_welcome_post() -> None:
    """Write the welcome post, so a new blog's home page has something to show."""
    now = now_utc()
    db.session.add(
        Post(title=WELCOME_TITLE, slug="welcome", body=WELCOME_BODY, status=PostStatus.published, published_at=now)
    )
    db.session.commit()


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(DEMO_WORDS) for _ in range(words)).capitalize() + "."


def _demo_post_body(rng: random.Random) -> str:
    paragraphs = [" ".join(_sentence(rng, rng.randint(6, 14)) for _ in range(rng.randint(3, 6))) for _ in range(4)]
    return f"{paragraphs[0]}\n\n## {_sentence(rng, 3)[:-1]}\n\n" + "\n\n".join(paragraphs[1:])


def _rendered_demo_post(body: str) -> tuple[str, str, str]:
    body_html = render_post(body)
    return body, body_html, opening_text(body_html)


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH_SIZE):
        yield range(start, min(start + BATCH_SIZE, total))


def _demo_tags() -> list[Tag]:
    """The demo's tags, the blog's own where it has them whatever their case ("travel" is the demo's "Travel")."""
    tags = tags_named(DEMO_TAGS)
    db.session.flush()
    return tags


def _add_demo_comments(rng: random.Random, total: int, post_ids: list[int], post_dates: list[datetime]) -> None:
    """Add approved comments, two in five of them replies (to a comment or to another reply), so posts show threads.

    Replies go in after the comments they answer, in rounds, so a reply can answer a reply of an earlier round.
    """
    bodies = [(text, render_comment(text)) for text in (_sentence(rng, rng.randint(5, 30)) for _ in range(40))]
    now = now_utc()
    placed: list[tuple[int, int, datetime]] = []  # id, index of its post, time of every comment so far

    def insert_comments(comments: list[tuple[int, dict]]) -> None:
        rows = [row for _, row in comments]
        ids = db.session.scalars(insert(Comment).returning(Comment.id, sort_by_parameter_order=True), rows).all()
        placed.extend((id_, index, row["created_at"]) for id_, (index, row) in zip(ids, comments, strict=True))

    def comment(index: int, after: datetime, parent_id: int | None, within_minutes: int) -> tuple[int, dict]:
        body, body_html = rng.choice(bodies)
        return index, {
            "post_id": post_ids[index],
            "parent_id": parent_id,
            "author_name": rng.choice(DEMO_NAMES),
            "body": body,
            "body_html": body_html,
            "status": CommentStatus.approved,
            "created_at": min(now, after + timedelta(minutes=rng.randint(5, within_minutes))),
        }

    replies = total * 2 // 5
    for batch in _batches(total - replies):
        indexes = [rng.randrange(len(post_ids)) for _ in batch]
        insert_comments([comment(index, post_dates[index], None, 60 * 24 * 30) for index in indexes])
    while replies:
        size = min(replies, BATCH_SIZE, max(1, len(placed) // 2))
        parents = [rng.choice(placed) for _ in range(size)]
        insert_comments([comment(index, time, parent_id, 60 * 24 * 3) for parent_id, index, time in parents])
        replies -= size


def seed_demo(post_count: int, comment_count: int, seed: int = 1) -> tuple[int, int]:
    """Add realistic published demo posts, tags and approved comments, fast enough for 100,000 posts.

    Markdown is rendered for a small pool of bodies and reused, and rows go in with bulk inserts.
    """
    rng = random.Random(seed)
    bodies = [_rendered_demo_post(_demo_post_body(rng)) for _ in range(25)]
    tag_ids = [tag.id for tag in _demo_tags()]
    first_number = (db.session.scalar(select(func.count(Post.id))) or 0) + 1
    now = now_utc()

    post_ids: list[int] = []
    post_dates = []
    for batch in _batches(post_count):
        rows = []
        for i in batch:
            body, body_html, summary = rng.choice(bodies)
            title = _sentence(rng, rng.randint(2, 6))[:-1]
            published_at = now - timedelta(hours=3 * (post_count - i), minutes=rng.randint(0, 120))
            rows.append(
                {
                    "title": title,
                    "slug": f"{slugify(title, 60)}-{first_number + i}",
                    "body": body,
                    "body_html": body_html,
                    "excerpt": "",
                    "summary": summary,
                    "status": PostStatus.published,
                    "published_at": published_at,
                    "created_at": published_at,
                    "updated_at": published_at,
                }
            )
            post_dates.append(published_at)
        post_ids += db.session.scalars(insert(Post).returning(Post.id, sort_by_parameter_order=True), rows).all()
        db.session.execute(
            insert(post_tags),
            [{"post_id": pid, "tag_id": tid} for pid in post_ids[-len(rows) :] for tid in rng.sample(tag_ids, 2)],
        )

    if not post_ids and comment_count:
        post_ids = list(db.session.scalars(select(Post.id)))
        post_dates = [now - timedelta(days=1)] * len(post_ids)
    _add_demo_comments(rng, comment_count if post_ids else 0, post_ids, post_dates)
    recount_comments()  # bulk inserts bypass the ORM events that keep counts and the page cache
    pagecache.note_bulk_change(db.session)
    db.session.commit()
    if post_count:
        search.reindex(post_ids)  # bulk inserts bypass the ORM events that keep the index
    return post_count, comment_count if post_ids else 0
