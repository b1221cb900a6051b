"""Tags managed by the owner: a description per tag, and the old addresses of renamed or merged tags.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.String(length=300), server_default="", nullable=False))
    op.create_table(
        "tag_redirects",
        sa.Column("old_slug", sa.String(length=80), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("old_slug"),
    )
    with op.batch_alter_table("tag_redirects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tag_redirects_tag_id"), ["tag_id"], unique=False)


def downgrade():
    with op.batch_alter_table("tag_redirects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_redirects_tag_id"))
    op.drop_table("tag_redirects")
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("description")
