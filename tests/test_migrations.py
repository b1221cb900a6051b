"""An existing blog upgrades in place: migrations keep every post, tag and comment."""

from __future__ import annotations

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy import text

from database import db
from helpers import page_text
from schema import use_migrations


@pytest.fixture
def empty_app(make_app):
    app = make_app()
    use_migrations(app)
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    return app


def test_database_at_the_first_revision_upgrades_to_head_with_its_data(empty_app):
    app = empty_app
    with app.app_context():
        flask_migrate.upgrade(revision="0001")
        assert "word_count" not in {c["name"] for c in inspect(db.engine).get_columns("posts")}
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO posts (id, title, slug, body, body_html, excerpt, summary, status, comments_open,"
                    " published_at, created_at, updated_at) VALUES (1, 'Old friend', 'old-friend', 'Hi',"
                    " '<p>Three whole words</p>', '', 'Three whole words', 'published', :yes,"
                    " '2024-01-01 10:00:00', '2024-01-01 10:00:00', '2024-01-01 10:00:00')"
                ),
                {"yes": True},
            )
            connection.execute(text("INSERT INTO tags (id, name, slug) VALUES (1, 'Vintage', 'vintage')"))
            connection.execute(text("INSERT INTO post_tags (post_id, tag_id) VALUES (1, 1)"))
            connection.execute(
                text(
                    "INSERT INTO comments (id, post_id, author_name, body, body_html, status, created_at,"
                    " notify_replies, notify_approval) VALUES (1, 1, 'Ada', 'Still here', '<p>Still here</p>',"
                    " 'approved', '2024-01-02 10:00:00', :no, :no)"
                ),
                {"no": False},
            )

        flask_migrate.upgrade()

        assert db.session.execute(text("SELECT word_count FROM posts")).scalar() == 3
    client = app.test_client()
    post_page = page_text(client.get("/posts/old-friend"))
    assert "Three whole words" in post_page and "Still here" in post_page and "Vintage" in post_page
    assert "Old friend" in page_text(client.get("/search?q=vintage"))


def test_migrations_build_exactly_the_schema_the_models_describe(empty_app):
    with empty_app.app_context():
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": lambda obj, name, type_, *_: not name.startswith("post_search")}
            )
            differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_init_db_upgrades_an_old_database_and_keeps_its_posts(empty_app, runner):
    with empty_app.app_context():
        flask_migrate.upgrade(revision="0001")
    result = runner.invoke(args=["upgrade-db"])
    assert result.exit_code == 0 and "up to date" in result.output
    with empty_app.app_context():
        assert "post_search" in inspect(db.engine).get_table_names()
