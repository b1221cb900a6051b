"""The trash holds comments too: a comment deleted in the moderation queue is kept, hidden from readers with its
status as it was, until it is restored or deleted for good (by hand, or by `purge` after TRASH_KEEP_DAYS).

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-03 17:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trashed_by", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_comments_trashed_at"), ["trashed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comments_trashed_at"))
        batch_op.drop_column("trashed_by")
        batch_op.drop_column("trashed_at")
