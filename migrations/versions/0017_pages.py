"""Pages: a post may be a page (About, Contact, Now), shown at /pages/<slug> and left out of the home page, feeds,
archive, tags and search. Everything written before this migration is a post.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

POST_KIND = sa.Enum("post", "page", name="postkind", native_enum=False)


def upgrade():
    # A plain column with a server default: batch mode adds it in place, the posts table (and its search
    # triggers) is not recreated.
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", POST_KIND, server_default="post", nullable=False))


def downgrade():
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("kind")
