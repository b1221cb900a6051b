"""Comments the blog's owner posted while logged in are marked as the owner's (comments.by_owner), and the stored
excerpt of each post without one of its author's is made again by the new rule: its opening paragraph, never a
heading or code (excerpts.opening_text). The posts table only has its summary updated: its search triggers stay.

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-03 17:30:00

"""

import sqlalchemy as sa
from alembic import op

from excerpts import opening_text

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

posts = sa.table(
    "posts",
    sa.column("id", sa.Integer),
    sa.column("body_html", sa.Text),
    sa.column("excerpt", sa.Text),
    sa.column("summary", sa.Text),
)


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("by_owner", sa.Boolean(), nullable=False, server_default=sa.false()))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(posts.c.id, posts.c.body_html).where(sa.func.coalesce(posts.c.excerpt, "") == "")
    )
    for post_id, body_html in rows.all():
        connection.execute(posts.update().where(posts.c.id == post_id).values(summary=opening_text(body_html or "")))


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("by_owner")
