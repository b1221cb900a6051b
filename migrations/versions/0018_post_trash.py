"""The trash: a deleted post is kept, hidden from readers with its comments, until it is restored or deleted for
good (by hand, or by `purge` after TRASH_KEEP_DAYS). Columns are added in place: the posts table keeps its search
triggers.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-03 15:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trashed_by", sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("trashed_by")
        batch_op.drop_column("trashed_at")
