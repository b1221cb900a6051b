"""Comment revisions: a random value that changes whenever a comment's text or status does, so that a
moderation link from an email acts only on the comment as the owner was shown it.

Links mailed before this migration name no revision, so they have expired.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 10:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.String(length=16), server_default="", nullable=False))


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_column("revision")
