"""Approved comment counts kept on each post, so listings never count comments per page view.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 06:15:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("comment_count", sa.Integer(), server_default="0", nullable=False))
    op.execute(
        "UPDATE posts SET comment_count = "
        "(SELECT count(*) FROM comments WHERE comments.post_id = posts.id AND comments.status = 'approved')"
    )


def downgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("comment_count")
