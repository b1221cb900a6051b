"""What shapes every page besides the database: the code, the owner's theme and the settings, as one fingerprint in
every cached page's key. A restart with a new Inkwell, a changed theme or a changed setting serves no page cached
before it (pageserver.py puts it in the keys; pagecache.note_version renews the ``site`` generation).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

import themes

# Settings whose values are secret and never shape a page: left out of the settings' fingerprint.
SECRET_SETTING_WORDS = ("SECRET", "PASSWORD")


def page_version(app: Flask) -> str:
    """Fingerprint what shapes every page besides the database: the code, the owner's theme and the settings."""
    return code_version(Path(app.root_path)) + themes.fingerprint(app) + config_version(app.config)


def code_version(root: Path) -> str:
    """Fingerprint the code, templates and static files, so pages cached by an older Inkwell are not served
    after an upgrade.

    By content, not modification time: several app servers sharing one Redis check out the same code at
    different times, and must agree on the keys of the pages they share.
    """
    packages = [path for init in root.glob("*/__init__.py") for path in init.parent.glob("*.py")]
    files = sorted([*root.glob("*.py"), *packages, *root.glob("templates/**/*"), *root.glob("static/**/*")])
    digest = hashlib.blake2b(digest_size=8)
    for path in files:
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def config_version(config: Mapping[str, Any]) -> str:
    """Fingerprint the settings (title, moderation, closing, ...), so a restart with a changed one serves no page
    cached under the old value. Every plain setting counts, but the secret ones, which shape no page."""
    plain = (str, int, float, bool, type(None))
    settings = sorted(
        (name, value)
        for name, value in config.items()
        if isinstance(value, plain) and not any(word in name for word in SECRET_SETTING_WORDS)
    )
    return hashlib.blake2b(repr(settings).encode(), digest_size=8).hexdigest()
