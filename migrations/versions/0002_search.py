"""Search and reading time: posts.word_count and the post_search index, filled from existing posts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 02:30:00
"""

import sqlalchemy as sa
from alembic import op

from markup import plain_text
from search import POSTGRES_SCHEMA
from search import SQLITE_SCHEMA
from search import reindex_on

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

posts = sa.table("posts", sa.column("id", sa.Integer), sa.column("body_html", sa.Text), sa.column("word_count"))


def upgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("word_count", sa.Integer(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_SCHEMA:
            op.execute(statement)
    else:
        op.execute(SQLITE_SCHEMA)
    connection = op.get_bind()
    for post_id, body_html in connection.execute(sa.select(posts.c.id, posts.c.body_html)).all():
        words = len(plain_text(body_html).split())
        connection.execute(posts.update().where(posts.c.id == post_id).values(word_count=words))
    reindex_on(connection)


def downgrade():
    op.execute("DROP TABLE IF EXISTS post_search")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("word_count")
