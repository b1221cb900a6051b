"""The readers' side: the home page, tags, the archive, search, and each post page with its comments and form.

What a commenter sends (posting, previewing, editing, unsubscribing) is answered in comments.py, which
re-renders the post page from here when the form has errors.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

from flask import Blueprint
from flask import Response
from flask import abort
from flask import after_this_request
from flask import current_app
from flask import get_template_attribute
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.exceptions import NotFound

import search
from commenters import commenter_key_from_cookie
from commenters import held_posts
from commenters import note_held_comments
from database import db
from database import id_from
from database import loaded_columns
from database import object_from_values
from forms import CommentForm
from fragments import kept
from fragments import kept_by_worker
from fragments import kept_markup
from localtime import local_time
from models import Comment
from models import Post
from models import PostKind
from models import Tag
from pagecache import POST_DETAILS
from pagecache import WHOLE_BLOG
from pagecache import fresh_token
from pagecache import hole
from pagecache import page_changes_at
from pagecache import page_is_of_post
from personal import REMEMBERED_FIELDS
from reading import Page
from reading import archive_months
from reading import month_bounds
from reading import neighbours
from reading import page_of
from reading import post_at_legacy_address
from reading import post_by_slug_or_404
from reading import post_redirected_from
from reading import posts_by_id
from reading import published_post
from reading import published_posts
from reading import published_tag
from reading import requested_page
from reading import tag_redirected_to
from reading import tags_with_counts
from responsive import share_image
from threads import comment_page_number
from threads import comment_thread
from threads import comments_on_page

bp = Blueprint("blog", __name__)

SEARCH_RESULTS_PER_PAGE = 10
NO_SUCH_COMMENT_PAGE = "There is no such page of comments."
NO_SUCH_TAG = "There is no tag by that name."


LEGACY_QUERY_ARGS = ("p", "page_id")  # WordPress's /?p=123 and /?page_id=45


@bp.get("/")
def index() -> ResponseReturnValue:
    """List the latest published posts, newest first, a page at a time.

    WordPress-style ``/?p=123`` addresses of imported posts redirect to the post.
    """
    if any(request.args.get(name) for name in LEGACY_QUERY_ARGS):
        moved = _post_at_old_address()
        if moved is not None:
            return redirect(address_of(moved), 301)
    posts = page_of(published_posts(), current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/index.html", posts=posts)


@bp.get("/tags/<slug>")
def show_tag(slug: str) -> ResponseReturnValue:
    """List the published posts with one tag.

    An address the tag had before it was renamed, or merged into another, answers with a permanent redirect.
    """
    tag = published_tag(slug)
    if tag is None:
        moved = tag_redirected_to(slug)
        if moved is not None:
            return redirect(url_for("blog.show_tag", slug=moved.slug, page=request.args.get("page")), 301)
        abort(404, description=NO_SUCH_TAG)
    query = published_posts().where(Post.tags.any(Tag.id == tag.id))
    posts = page_of(query, current_app.config["POSTS_PER_PAGE"])
    return render_template("blog/tag.html", tag=tag, posts=posts)


@bp.get("/tags/")
def list_tags() -> str:
    """List every tag with published posts, with how many."""
    return render_template("blog/tags.html", tags=tags_with_counts())


@bp.get("/archive")
def archive() -> str:
    """List the months with published posts, newest first, with counts; small blogs list every post too."""
    months = archive_months()
    total = sum(count for _, _, count in months)
    posts_by_month: dict[tuple[int, int], list[Post]] = {}
    if total <= current_app.config["ARCHIVE_FULL_LIST_LIMIT"]:
        for post in db.session.scalars(published_posts()):
            published = local_time(post.published_at)  # the blog's months, as archive_months counts them
            posts_by_month.setdefault((published.year, published.month), []).append(post)
    return render_template("blog/archive.html", months=months, total=total, posts_by_month=posts_by_month)


@bp.get("/archive/<int:year>/<int:month>")
def archive_month(year: int, month: int) -> str:
    """List the posts published in one month.

    :raise 404: for a month that does not exist (13, 0, year 99999) or has no posts.
    """
    if not (1 <= month <= 12 and 1 <= year <= 9998):
        abort(404, description="There is no such month.")
    start, end = month_bounds(year, month)
    query = published_posts().where(Post.published_at >= start, Post.published_at < end)
    posts = page_of(query, current_app.config["POSTS_PER_PAGE"])
    if not posts.items:
        abort(404, description="Nothing was published that month.")
    return render_template("blog/archive_month.html", posts=posts, start=start, year=year, month=month)


@bp.get("/search")
def search_posts() -> str:
    """Search published posts by title, text and tags, best matches first, matching words highlighted."""
    query = request.args.get("q", "")
    words = search.search_words(query)
    matches = search.best_matches(words) if words else []
    number = requested_page()
    first = (number - 1) * SEARCH_RESULTS_PER_PAGE
    if number > 1 and first >= len(matches):
        abort(404, description="There is no such page of results.")
    shown = matches[first : first + SEARCH_RESULTS_PER_PAGE]
    return render_template(
        "blog/search.html",
        query=query[: search.MAX_QUERY_LENGTH],
        words=words,
        posts=Page(posts_by_id(shown), number, len(matches) > first + SEARCH_RESULTS_PER_PAGE),
        matches=min(len(matches), search.SEARCH_CANDIDATES),
        more_than_ranked=len(matches) > search.SEARCH_CANDIDATES,
        was_shortened=len(query) > search.MAX_QUERY_LENGTH,
    )


# The post page with its comments


@bp.get("/posts/<slug>")
def show_post(slug: str) -> ResponseReturnValue:
    """Show a post, its comments as threads, and the comment form.

    An address the post had before its slug changed answers with a permanent redirect.
    """
    post = shown_post(slug)
    if post is None:
        moved = published_post(slug, PostKind.page) or post_redirected_from(slug)
        if moved is not None:
            return redirect(address_of(moved), 301)
        abort(404, description="There is no post at this address.")
    comment_page = requested_page("cpage", NO_SUCH_COMMENT_PAGE)
    return render_post_page(post, comment_page=comment_page, reply_to=request.args.get("replyto", ""))


def shown_post(slug: str) -> Post | None:
    """Return the published post at ``slug`` as :func:`reading.published_post` does, from the values of its row
    this worker keeps while no post and no comment changed (fragments.kept_by_worker): a post's page rendered
    again (for a reader with a session, or after a change elsewhere) runs no query when its pieces are kept too.

    The post's own generation (``post:<slug>``) is renewed by any change to its row or comment count, the blog's by
    a change to any post or the times posts go live. Only the row's columns are kept, none of its relationships
    (the author's account changes without renewing either). Kept only once the post has a generation of its own
    (a page of it rendered): a made-up slug makes none.
    """
    read: list[Post | None] = []

    def read_post() -> dict[str, Any] | None:
        read.append(published_post(slug))
        return loaded_columns(read[0]) if read[0] is not None else None

    values = kept_by_worker(f"post|{slug}", WHOLE_BLOG, read_post, made_already=(f"post:{slug}",))
    if read:
        return read[0]
    return object_from_values(Post, values) if values is not None else None


@bp.get("/pages/<slug>")
def show_page(slug: str) -> ResponseReturnValue:
    """Show a page (About, Contact…): its text alone, without date, tags or comments.

    A post's slug here leads to the post, and an old slug of the page to the page (both permanent redirects).
    """
    page = published_post(slug, PostKind.page)
    if page is None:
        moved = published_post(slug) or post_redirected_from(slug)
        if moved is not None:
            return redirect(address_of(moved), 301)
        abort(404, description="There is no page at this address.")
    return render_template("blog/page.html", page=page)


def address_of(post: Post) -> str:
    """Return where readers find a post or a page."""
    return url_for("blog.show_page" if post.is_page else "blog.show_post", slug=post.slug)


def render_post_page(
    post: Post,
    form: CommentForm | None = None,
    *,
    form_error: str | None = None,
    preview: Comment | None = None,
    comment_page: int = 1,
    reply_to: str = "",
) -> str:
    """Render a post with the comments this reader may see, a page at a time, and the comment form.

    Without ``form``, the form is the empty one (answering the comment ``reply_to`` names, if it may be answered).
    """
    close_after_days = current_app.config["COMMENTS_CLOSE_AFTER_DAYS"]
    accepts_comments, closes_at = post.accepts_comments(close_after_days), post.comments_close_at(close_after_days)
    thread = ThreadOnPage(post, comment_page, accepts_comments)
    commenter_key = commenter_key_from_cookie()
    page_is_of_post(post.id)
    if post.id in held_posts():  # their comments awaiting moderation: this page is theirs alone
        update_held_cookie_after(post, commenter_key)
        thread_html, comments = thread.render(commenter_key)
    else:
        thread_html, comments = thread.shared(), []
    parts = post_parts(post, accepts_comments)
    around = kept_by_worker(f"neighbours|{post.id}", WHOLE_BLOG, lambda: neighbours(post))
    replying_to = _parent_of(form.parent_id.data if form is not None else reply_to, post, comments)
    if closes_at is not None:
        page_changes_at(closes_at.timestamp())  # a cached copy must not outlive its comment form, nor validate after
    if form is None and replying_to is None:
        form_html = _empty_comment_form(post, accepts_comments)
    else:
        form = form or new_comment_form(post, parent_id=reply_to)
        if replying_to is None and request.method == "GET":
            form.parent_id.data = ""  # a stale or made-up ?replyto= just opens the normal form
        form_html = comment_form_html(post, form, accepts_comments, form_error, preview, replying_to)
    return render_template(
        "blog/post.html",
        post=post,
        post_parts=parts,
        thread_html=thread_html,
        comment_form_html=form_html,
        previous_post=around.earlier,
        next_post=around.later,
        recent=around.recent,
        accepts_comments=accepts_comments,
    )


class PostParts(NamedTuple):
    """What a post's page shows of the post itself: the head's links, meta and JSON-LD, the kind of card social
    sites show, and the article (title, date, tags, comment count, feature image, text)."""

    head: Markup
    twitter_card: str
    article: Markup


def post_parts(post: Post, accepts_comments: bool) -> PostParts:
    """Return the post's own parts of its page, kept between renders (fragments.py) until the post, its comments,
    tags, images or author's name, or the settings change: a new post renders the other posts' pages again
    (their sidebars), not these. Kept per address of the site: the head's links are absolute."""
    name = f"post|{accepts_comments}|{request.url_root}"
    head, twitter_card, article = kept(
        name, post.slug, lambda: _render_post_parts(post, accepts_comments), also=(POST_DETAILS,)
    )
    return PostParts(Markup(head), twitter_card, Markup(article))


def _render_post_parts(post: Post, accepts_comments: bool) -> tuple[str, str, str]:
    shared_image = share_image(post)
    head = render_template("blog/_post_head.html", post=post, shared_image=shared_image)
    article = get_template_attribute("_macros.html", "post_article")(post, leave_comment=accepts_comments)
    return str(head), "summary_large_image" if shared_image else "summary", str(article)


def _empty_comment_form(post: Post, accepts_comments: bool) -> Markup:
    """The form everyone gets under a post, with holes for remembered details, kept between renders with the
    thread (fragments.py): building and rendering a form costs more than the rest of the page."""
    name = f"form|{accepts_comments}|{request.script_root}"

    def render() -> Markup:
        return comment_form_html(post, new_comment_form(post), accepts_comments)

    return kept_markup(name, post.slug, render, token_kinds=COMMENT_FORM_TOKENS)


def comment_form_html(
    post: Post,
    form: CommentForm,
    accepts_comments: bool,
    form_error: str | None = None,
    preview: Comment | None = None,
    replying_to: Comment | None = None,
) -> Markup:
    """The comment form (or the note that comments are closed), as this reader left it."""
    if not form.started.data:
        form.started.data = fresh_token("form-started")
    html = render_template(
        "_comment_form.html",
        post=post,
        form=form,
        form_error=form_error,
        preview=preview,
        replying_to=replying_to,
        accepts_comments=accepts_comments,
    )
    return Markup(html)


def update_held_cookie_after(post: Post, commenter_key: str | None) -> None:
    """This reader was told they have comments awaiting moderation here: once none is left, tell their browser
    so, and it is served the shared page again (personal.py)."""

    @after_this_request
    def update_held_cookie(response: Response) -> Response:
        note_held_comments(response, post.id, commenter_key)
        return response


class ThreadOnPage(NamedTuple):
    """The comments of one comment page of a post, as HTML: the pagination links and the list."""

    post: Post
    number: int
    accepts_comments: bool

    def shared(self) -> Markup:
        """Return the thread everyone without comments of their own on the page sees, kept between renders
        (fragments.py) until the post's comments change.

        :raise 404: past the last page of comments.
        """
        name = f"thread|{self.number}|{self.accepts_comments}|{request.script_root}"
        # The Delete buttons carry the comment form's token.
        return kept_markup(name, self.post.slug, lambda: self.render(None)[0], token_kinds=("comment-csrf",))

    def render(self, commenter_key: str | None) -> tuple[Markup, list[Comment]]:
        """Render the thread this commenter sees (their held comments too, their own still editable), and return
        it with the comments shown.

        :raise 404: past the last page of comments.
        """
        per_page = current_app.config["COMMENTS_PER_PAGE"]
        comments, threads = comments_on_page(self.post.id, commenter_key, self.number, per_page)
        pages = max(1, -(-threads // per_page))
        if self.number > pages:
            abort(404, description=NO_SUCH_COMMENT_PAGE)
        html = render_template(
            "_thread.html",
            post=self.post,
            links=CommentLinks.on(self.post, self.number),
            thread=comment_thread(comments),
            comment_page=self.number,
            comment_pages=pages,
            accepts_comments=self.accepts_comments,
        )
        return Markup(html), comments


def new_comment_form(post: Post, parent_id: str = "") -> CommentForm:
    """Return an empty comment form with holes for the details this browser asked to remember (personal.py)."""
    form = CommentForm(data={field: hole(field) for field in REMEMBERED_FIELDS} | {"parent_id": parent_id})
    form.remember.render_kw = {hole("remembered"): True}  # a bare attribute: ``checked`` or nothing
    form.post = post
    return form


def _parent_of(answered: str | None, post: Post, comments: list[Comment]) -> Comment | None:
    """Return the approved comment of this post the form answers (read only if it is on another page)."""
    parent_id = id_from(answered or "")
    if parent_id is None:
        return None
    shown = next((c for c in comments if c.id == parent_id), None)
    parent = shown or db.session.get(Comment, parent_id)
    is_answerable = parent is not None and parent.post_id == post.id and parent.is_visible_to(None)
    return parent if is_answerable else None


COMMENT_FORM_TOKENS = ("comment-csrf", "form-started")
LINK_MARK = 9_876_543_210  # stands for a comment's id while a pattern is built


class CommentLinks(NamedTuple):
    """Address patterns for the comments on one post page (``{}`` is a comment's id), from url_for once.

    A long thread has two links per comment; building each with url_for would cost more than the rest of
    the comment.
    """

    permalink: str
    reply: str
    edit: str
    delete: str

    @classmethod
    def on(cls, post: Post, comment_page: int) -> CommentLinks:
        cpage = comment_page if comment_page > 1 else None
        patterns = (
            url_for("blog.comment_permalink", slug=post.slug, comment_id=LINK_MARK),
            url_for("blog.show_post", slug=post.slug, replyto=LINK_MARK, cpage=cpage, _anchor="comment-form"),
            url_for("comments.edit_own_comment", slug=post.slug, comment_id=LINK_MARK),
            url_for("comments.delete_own_comment", slug=post.slug, comment_id=LINK_MARK),
        )
        return cls(*(pattern.replace(str(LINK_MARK), "{}") for pattern in patterns))


@bp.get("/posts/<slug>/comments/<int:comment_id>")
def comment_permalink(slug: str, comment_id: int) -> ResponseReturnValue:
    """Redirect to the page and anchor where a comment is shown, however long the thread."""
    post = post_by_slug_or_404(slug)
    comment = db.session.get(Comment, comment_id)
    on_this_post = comment is not None and comment.post_id == post.id
    location = comment_location(post, comment, commenter_key_from_cookie()) if on_this_post else None
    if location is None:
        abort(404, description="There is no such comment on this post.")
    return redirect(location)


def comment_location(post: Post, comment: Comment, commenter_key: str | None) -> str | None:
    """Return the address of the page and anchor where a comment is shown, or ``None`` if it is not shown."""
    number = comment_page_number(comment, commenter_key, current_app.config["COMMENTS_PER_PAGE"])
    if number is None:
        return None
    cpage = number if number > 1 else None
    return url_for("blog.show_post", slug=post.slug, cpage=cpage, _anchor=f"comment-{comment.id}")


def redirect_legacy_address(error: NotFound) -> ResponseReturnValue | None:
    """Send an address from the blog's previous engine (``/2019/05/slug/``) to the imported post, if any."""
    moved = _post_at_old_address()
    return redirect(address_of(moved), 301) if moved is not None else None


def _post_at_old_address() -> Post | None:
    """Find the post the requested address led to before, with or without its trailing slash.

    A plain WordPress permalink is a folder and a query (``/?p=123``, ``/blog/?p=123``); other query arguments
    (a campaign's ``utm_source``) do not change which post it was.
    """
    paths = dict.fromkeys(
        path for path in (request.path, request.path.rstrip("/") + "/", request.path.rstrip("/")) if path
    )
    queries = [f"?{name}={request.args[name]}" for name in LEGACY_QUERY_ARGS if request.args.get(name)]
    for candidate in [path + query for query in queries for path in paths] + list(paths):
        moved = post_at_legacy_address(candidate)
        if moved is not None:
            return moved
    return None
