"""The owner's theme: templates and static files in ``instance/theme/`` that replace the built-in ones file by file.

``instance/theme/templates/blog/post.html`` is used instead of ``templates/blog/post.html``, and
``instance/theme/static/favicon.svg`` is served at ``/static/favicon.svg`` instead of the built-in icon; every file
the theme does not have stays the built-in one, so a theme holds only what it changes and survives upgrades.
``instance/theme/static/custom.css``, when there is one, is linked after the built-in stylesheet.

A theme template that does not compile is never used: readers get the built-in page, the error is logged, and the
owner's dashboard names the file, the line and the problem (``theme_problems``). Themes are read at start-up
(restart after changing one); they are part of the page cache's fingerprint, so no page cached under the old look is
served after the restart.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask import current_app
from flask import send_from_directory
from flask.typing import ResponseReturnValue
from jinja2 import BaseLoader
from jinja2 import ChoiceLoader
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import TemplateNotFound
from jinja2 import TemplateSyntaxError
from werkzeug.security import safe_join

log = logging.getLogger(__name__)

CUSTOM_CSS = "custom.css"


def theme_folder(app: Flask) -> Path:
    """Where the theme lives: ``THEME_FOLDER``, else ``instance/theme``."""
    return Path(app.config.get("THEME_FOLDER") or Path(app.instance_path) / "theme")


class ThemeLoader(FileSystemLoader):
    """The theme's templates, each checked as it is loaded: one that does not compile is left out (the built-in one
    is used) and its problem is kept for the owner."""

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder))
        self.problems: dict[str, str] = {}

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        try:
            environment.parse(source, template, filename)
        except TemplateSyntaxError as error:
            self.problems[template] = f"line {error.lineno}: {error.message}"
            log.error(
                "Theme template %s has an error on line %s (%s): the built-in one is used",
                template,
                error.lineno,
                error.message,
            )
            raise TemplateNotFound(template) from None
        self.problems.pop(template, None)
        return source, filename, uptodate


def init_app(app: Flask) -> None:
    """Put the theme's templates before the built-in ones and serve its static files over the built-in ones."""
    folder = theme_folder(app)
    loader = ThemeLoader(folder / "templates")
    app.extensions["theme_loader"] = loader
    built_in: BaseLoader = app.jinja_loader or FileSystemLoader(str(Path(app.root_path) / "templates"))
    app.jinja_loader = ChoiceLoader([loader, built_in])
    app.view_functions["static"] = _static_from_theme_first
    linked = has_custom_css(app)  # looked for once, as the static files' fingerprints: a new theme takes a restart
    app.add_template_global(lambda: linked, "has_custom_css")


def static_folder_of(app: Flask, filename: str) -> Path:
    """Return the folder ``/static/<filename>`` is served from: the theme's when it has the file, else the built-in
    one. ``safe_join`` keeps a name like ``../secret_key`` from reaching outside either folder."""
    themed = theme_folder(app) / "static"
    path = safe_join(str(themed), filename)
    return themed if path is not None and Path(path).is_file() else Path(app.static_folder or "static")


def static_file(app: Flask, filename: str) -> Path | None:
    """Return the file served at ``/static/<filename>``, or ``None`` for a name outside the folders."""
    path = safe_join(str(static_folder_of(app, filename)), filename)
    return Path(path) if path is not None else None


def has_custom_css(app: Flask) -> bool:
    return (theme_folder(app) / "static" / CUSTOM_CSS).is_file()


def theme_problems(app: Flask) -> dict[str, str]:
    """The theme templates left out so far for an error, each with its line and problem, for the owner.

    Every template of the theme is checked here, not only those loaded since the start: the owner learns of a
    broken page before a reader opens it.
    """
    loader: ThemeLoader = app.extensions["theme_loader"]
    for name in loader.list_templates() if Path(loader.searchpath[0]).is_dir() else []:
        try:
            loader.get_source(app.jinja_env, name)
        except TemplateNotFound:
            pass
    return dict(sorted(loader.problems.items()))


def fingerprint(app: Flask) -> str:
    """Fingerprint every file of the theme by name and content, for the page cache's keys (empty with no theme)."""
    folder = theme_folder(app)
    files = sorted(path for path in folder.glob("**/*") if path.is_file()) if folder.is_dir() else []
    if not files:
        return ""
    digest = hashlib.blake2b(digest_size=8)
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _static_from_theme_first(filename: str) -> ResponseReturnValue:
    max_age: Any = current_app.get_send_file_max_age(filename)
    return send_from_directory(static_folder_of(current_app, filename), filename, max_age=max_age)
