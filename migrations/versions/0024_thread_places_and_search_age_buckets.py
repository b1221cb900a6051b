"""Each comment that starts a thread for every reader keeps its place among its post's threads, and each post its
number of threads, so a page of a long conversation is an index range and the page of a linked comment a
division (comment_counts.py keeps them). Added with ADD COLUMN only: the posts table keeps its search triggers.

On PostgreSQL, the search index also holds each post's age bucket (search.BUCKET): a word in one post in a hundred
is found among the newest few buckets, without visiting every older match.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 20:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# The comments that start a thread for everyone (Comment.is_visible_to(None) and Comment.starts_a_thread_for(None),
# as they read today), post by post in time order: read once, numbered here (an UPDATE with a correlated subquery
# would number the whole table once per comment on PostgreSQL).
THREAD_STARTS = """
SELECT c.post_id, c.id FROM comments AS c
WHERE c.status = 'approved' AND c.trashed_at IS NULL AND (
    c.parent_id IS NULL OR NOT EXISTS (
        SELECT 1 FROM comments AS p WHERE p.id = c.parent_id AND p.status = 'approved' AND p.trashed_at IS NULL
    )
)
ORDER BY c.post_id, c.created_at, c.id
"""
AGE_BUCKET = "(ARRAY[post_id / 1024])"  # search.BUCKET as it is today
COUNT_THREADS = (
    "UPDATE posts SET thread_count = "
    "(SELECT coalesce(max(thread_ordinal), 0) FROM comments WHERE comments.post_id = posts.id)"
)


def upgrade():
    with op.batch_alter_table("comments", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("thread_ordinal", sa.Integer(), nullable=True))
    with op.batch_alter_table("posts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("thread_count", sa.Integer(), server_default="0", nullable=False))
    op.create_index("ix_comments_post_thread_ordinal", "comments", ["post_id", "thread_ordinal"])
    op.create_index(
        "ix_comments_post_thread_starts",
        "comments",
        ["post_id", "created_at", "id"],
        sqlite_where=sa.text("thread_ordinal IS NOT NULL"),
        postgresql_where=sa.text("thread_ordinal IS NOT NULL"),
    )
    number_threads(op.get_bind())
    op.execute(COUNT_THREADS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_post_search_document")
        op.execute(
            f"CREATE INDEX ix_post_search_document ON post_search USING GIN (document, {AGE_BUCKET}) "
            "WITH (fastupdate = off)"
        )


def number_threads(bind) -> None:
    places, post_id, place = [], None, 0
    for each_post, comment_id in bind.execute(sa.text(THREAD_STARTS)):
        place = place + 1 if each_post == post_id else 1
        post_id = each_post
        places.append({"comment_id": comment_id, "place": place})
    if places:
        bind.execute(sa.text("UPDATE comments SET thread_ordinal = :place WHERE id = :comment_id"), places)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_post_search_document")
        op.execute("CREATE INDEX ix_post_search_document ON post_search USING GIN (document) WITH (fastupdate = off)")
    op.drop_index("ix_comments_post_thread_starts", table_name="comments")
    op.drop_index("ix_comments_post_thread_ordinal", table_name="comments")
    with op.batch_alter_table("posts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("thread_count")
    with op.batch_alter_table("comments", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("thread_ordinal")
