"""On PostgreSQL, the search index (post_search's GIN index) is written at once on every post change instead of
through its pending list, which every search had to read in full until a vacuum merged it; the list left is merged
now. SQLite's FTS5 index is unchanged, and no table is rebuilt.

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-03 18:15:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_post_search_document SET (fastupdate = off)")
        op.execute("SELECT gin_clean_pending_list('ix_post_search_document'::regclass)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER INDEX ix_post_search_document RESET (fastupdate)")
