"""``flask --app app`` commands that move the blog in and out: export, the imports, backups (registered by cli.py)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import inspect

from database import db
from models import Post
from schema import init_db
from transfer import export
from transfer import ghost
from transfer import inkwell
from transfer import static_site
from transfer import wordpress
from transfer.backup import backup
from transfer.common import ImportSummary
from transfer.common import TransferError
from transfer.common import check_import_size
from transfer.common import counted
from transfer.record import imports_done
from transfer.record import undo_import
from transfer.record import undo_plan
from transfer.tables import ImportRecord


@click.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option(
    "--with-users",
    is_flag=True,
    help="Include password hashes and two-factor keys, for an import with --keep-passwords.",
)
@click.option("--zip", "as_zip", is_flag=True, help="Write a zip: the JSON plus the images as files.")
@with_appcontext
def export_command(path: Path, with_users: bool, as_zip: bool) -> None:
    """Write the whole blog (posts, tags, comments, images, settings, accounts) to a JSON (or zip) file."""
    if not inspect(db.engine).has_table(Post.__tablename__):
        raise click.ClickException("This database has no blog in it yet: is DATABASE_URL the right one?")
    data = export.export_data(with_users=with_users)
    counts = {kind: len(data[kind]) for kind in ("posts", "comments", "tags", "uploads", "users")}
    if as_zip:
        path.write_bytes(export.as_zip(data))
    else:
        path.write_text(export.as_json(data), encoding="utf-8")
    click.echo(
        f"Exported {counts['posts']:,} posts, {counts['comments']:,} comments, {counts['tags']:,} tags, "
        f"{counts['uploads']:,} images and {counts['users']:,} accounts to {path}."
    )


def _progress_bar(items: list[object], label: str) -> Iterator[object]:
    with click.progressbar(items, label=f"{label:<9}", show_pos=True) as bar:
        yield from bar


def _report_import(run: Callable[[], object]) -> None:
    """Bring the database up to date, run one import and print what it did, or why nothing was imported."""
    init_db()
    try:
        result = run()
    except TransferError as error:
        raise click.ClickException(f"Nothing was imported: {error}") from None
    click.echo(str(result))
    if isinstance(result, ImportSummary) and result.dry_run:
        click.echo("This was a dry run: nothing was kept. Run the command again without --dry-run to import.")
    elif isinstance(result, ImportSummary) and result.import_id is not None:
        click.echo(f"To take it all out again: .venv/bin/flask --app app undo-import {result.import_id}")


def _import_file(path: Path) -> bytes:
    """Read a file to import, unless it is larger than any import may be (checked before reading it)."""
    check_import_size(path.stat().st_size)
    return path.read_bytes()


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--keep-passwords",
    is_flag=True,
    help="Keep the accounts' password hashes and two-factor keys from the file (only for a file you made yourself).",
)
@with_appcontext
def import_command(path: Path, keep_passwords: bool) -> None:
    """Load a JSON (or zip) export into an empty blog, all or nothing; accounts come without passwords."""
    _report_import(
        lambda: inkwell.import_data(
            inkwell.read_export(_import_file(path)), track=_progress_bar, keep_passwords=keep_passwords
        )
    )


DRY_RUN = click.option(
    "--dry-run", is_flag=True, help="Show what the import would do, every change included, and keep nothing."
)


@click.command("import-wordpress")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--uploads",
    type=click.Path(exists=True, path_type=Path),
    help="WordPress's wp-content/uploads folder (or a zip of it): the posts' images are brought in from it.",
)
@click.option("--pages/--skip-pages", default=True, show_default=True, help="Import WordPress pages (as pages) too.")
@DRY_RUN
@with_appcontext
def import_wordpress_command(path: Path, uploads: Path | None, pages: bool, dry_run: bool) -> None:
    """Import a WordPress export (WXR file from Tools → Export); safe to run again, and undone with undo-import."""
    _report_import(
        lambda: wordpress.import_wordpress(
            _import_file(path),
            include_pages=pages,
            uploads=uploads,
            track=_progress_bar,
            dry_run=dry_run,
            file_name=path.name,
        )
    )


@click.command("import-folder")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@DRY_RUN
@with_appcontext
def import_folder_command(path: Path, dry_run: bool) -> None:
    """Import the Markdown posts of a Jekyll, Hugo, Pelican or Eleventy site (a folder or zip); safe to run again."""
    _report_import(lambda: static_site.import_static_site(path, track=_progress_bar, dry_run=dry_run))


@click.command("import-ghost")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--images",
    type=click.Path(exists=True, path_type=Path),
    help="Ghost's content/images folder (or a zip of it): the posts' images are brought in from it.",
)
@click.option("--pages/--skip-pages", default=True, show_default=True, help="Import Ghost pages (as pages) too.")
@DRY_RUN
@with_appcontext
def import_ghost_command(path: Path, images: Path | None, pages: bool, dry_run: bool) -> None:
    """Import a Ghost export (JSON from Settings → Labs → Export content); safe to run again."""
    _report_import(
        lambda: ghost.import_ghost(
            _import_file(path),
            include_pages=pages,
            images=images,
            track=_progress_bar,
            dry_run=dry_run,
            file_name=path.name,
        )
    )


@click.command("imports")
@with_appcontext
def imports_command() -> None:
    """List the imports from other blogs, newest first, with the number undo-import takes."""
    init_db()
    records = imports_done()
    if not records:
        click.echo("Nothing has been imported from another blog yet.")
    for record in records:
        state = f"undone {record.undone_at:%Y-%m-%d %H:%M}" if record.undone_at else record.headline
        click.echo(f"{record.id:>4}  {record.created_at:%Y-%m-%d %H:%M}  {record.source}, {record.file_name}: {state}")


@click.command("undo-import")
@click.argument("number", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def undo_import_command(number: int, yes: bool) -> None:
    """Delete exactly what one import created (its posts with their comments, and the tags, accounts and images
    nothing else uses); NUMBER is from `flask --app app imports`."""
    init_db()
    record = db.session.get(ImportRecord, number)
    if record is None:
        raise click.ClickException(f"There is no import number {number} to undo; `imports` lists them.")
    if record.undone_at is not None:
        raise click.ClickException(f"Import {number} was undone already.")
    plan = undo_plan(record)
    click.echo(f"Undoing import {number} ({record.source}, {record.file_name}) deletes {plan.sentence}.")
    if plan.comments_since or plan.posts_edited_since:
        click.echo(
            f"That includes {counted(plan.comments_since, 'comment')} written and "
            f"{counted(plan.posts_edited_since, 'post')} edited since the import."
        )
    if not yes:
        click.confirm("Go ahead?", abort=True)
    if undo_import(record) is None:
        raise click.ClickException(f"Import {number} was undone already.")
    click.echo(f"Import {number} is undone.")


@click.command("backup")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", type=click.IntRange(min=1), help="Keep only the newest N backups in the folder.")
@with_appcontext
def backup_command(folder: Path | None, keep: int | None) -> None:
    """Copy the database into FOLDER (default: instance/backups) while the blog keeps running."""
    folder = folder or Path(current_app.instance_path) / "backups"
    try:
        target = backup(folder, keep)
    except TransferError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backed up the database to {target} ({target.stat().st_size / 1_048_576:,.1f} MB).")


COMMANDS = (
    export_command,
    import_command,
    backup_command,
    import_wordpress_command,
    import_ghost_command,
    import_folder_command,
    imports_command,
    undo_import_command,
)
