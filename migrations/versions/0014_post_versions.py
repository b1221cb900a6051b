"""Post versions: every save that changes a post's words keeps them, with who saved them and when, so the owner
can see what changed and bring back an earlier version.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 16:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BODY_FORMAT = sa.Enum("markdown", "html", name="bodyformat", native_enum=False)


def upgrade():
    op.create_table(
        "post_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("excerpt", sa.Text(), nullable=False),
        sa.Column("format", BODY_FORMAT, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_versions_post_id"), ["post_id"], unique=False)


def downgrade():
    with op.batch_alter_table("post_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_versions_post_id"))
    op.drop_table("post_versions")
