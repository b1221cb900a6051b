"""The trash: a deleted post is kept, hidden from readers with its comments, until it is restored or deleted for
good (by hand, or by `purge` after TRASH_KEEP_DAYS). Columns are added in place: the posts table keeps its search
triggers. And what each moderation changed, kept a short while for its "Undo".

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 15:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("trashed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("trashed_by", sa.String(length=40), nullable=True))
    op.create_table(
        "moderation_undos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("moderation_undos")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("trashed_by")
        batch_op.drop_column("trashed_at")
