"""Body formats: a post or a comment says what its text is written in, Markdown (typed here) or HTML (imported
from WordPress and the like), so imported HTML is cleaned and shown as HTML rather than read as Markdown.

Everything written before this migration is Markdown.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BODY_FORMAT = sa.Enum("markdown", "html", name="bodyformat", native_enum=False)


def upgrade():
    for table in ("posts", "comments"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("format", BODY_FORMAT, server_default="markdown", nullable=False))


def downgrade():
    for table in ("comments", "posts"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("format")
