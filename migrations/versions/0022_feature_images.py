"""A post may have a feature image: the name of an image in the media library (uploads.name), shown at the top of
the post and on its card, and offered to social sites. Added to posts with ADD COLUMN only: the table keeps its
search triggers.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("posts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("feature_image", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("posts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("feature_image")
