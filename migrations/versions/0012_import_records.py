"""Import records: each kept import from WordPress, Ghost or a static site, and the posts, tags and accounts it
created, so the owner can undo one import exactly.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("origin", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("uploads", sa.Text(), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "imported_rows",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["import_id"], ["imports.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("kind", "row_id"),
    )
    with op.batch_alter_table("imported_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_rows_import_id"), ["import_id"], unique=False)


def downgrade():
    with op.batch_alter_table("imported_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_rows_import_id"))
    op.drop_table("imported_rows")
    op.drop_table("imports")
