"""Addresses from a previous blog engine (WordPress permalinks), redirected to the imported posts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 02:40:33.774850

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "legacy_addresses",
        sa.Column("path", sa.String(length=300), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("path"),
    )
    with op.batch_alter_table("legacy_addresses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legacy_addresses_post_id"), ["post_id"], unique=False)


def downgrade():
    with op.batch_alter_table("legacy_addresses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legacy_addresses_post_id"))

    op.drop_table("legacy_addresses")
