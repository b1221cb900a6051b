"""An index on each post's comments by time, for the duplicate check on every comment posted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 07:12:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index("ix_comments_post_created", ["post_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_post_created")
