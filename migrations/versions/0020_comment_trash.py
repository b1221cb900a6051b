"""The trash holds comments too: a comment deleted in the moderation queue is kept, hidden from readers with its
status as it was, until it is restored or deleted for good (by hand, or by `purge` after TRASH_KEEP_DAYS). And the
emails an approval in the queue calls for wait in held_mail until its Undo expires.

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-03 17:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trashed_by", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_comments_trashed_at"), ["trashed_at"], unique=False)
    op.create_table(
        "held_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("undo_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["undo_id"], ["moderation_undos.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("held_mail", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_held_mail_comment_id"), ["comment_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_held_mail_send_after"), ["send_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_held_mail_undo_id"), ["undo_id"], unique=False)


def downgrade():
    op.drop_table("held_mail")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_comments_trashed_at"))
        batch_op.drop_column("trashed_by")
        batch_op.drop_column("trashed_at")
