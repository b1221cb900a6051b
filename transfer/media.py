"""The images an imported blog's posts point at, brought in from a copy of its files (a folder, or a zip of one).

An export names its images but does not hold them: WordPress links to ``…/wp-content/uploads/2019/05/cafe.jpg``,
Ghost to ``/content/images/2023/08/boats.jpg``. Given the folder those paths are in, each image a post uses is
checked and re-encoded as a fresh upload is (images.py), stored under a name taken from its contents (so a
second import stores nothing twice; a dry run stores nothing at all), and the post's links are rewritten to it.
An image that is not in the folder, or fails the checks, is listed for the owner, and the link is left as it was.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from pathlib import PurePosixPath
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import current_app
from flask import url_for

from images import UploadError
from images import checked_image
from images import uploads_folder
from images import write_upload
from transfer.common import ImportSummary
from transfer.common import TransferError

LINK = re.compile(r'(?P<attribute>\b(?:src|href))="(?P<address>[^"]+)"')
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
UNREADABLE = (OSError, ValueError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError)


@dataclass
class MediaFolder:
    """A copy of the old blog's media files: a folder, or a zip file holding one."""

    path: Path
    marker: str  # the part of an image's address after which its path in the folder begins
    imported: dict[str, str] = field(default_factory=dict)  # path in the folder → address of the stored copy
    missing: dict[str, str] = field(default_factory=dict)  # path in the folder → why it was left out
    dry_run: bool = False  # check every image, but store none
    stored: list[str] = field(default_factory=list)  # the files this import added (its summary's new_uploads)

    def __post_init__(self) -> None:
        if not self.path.exists():
            raise TransferError(f"The media folder {self.path} does not exist.")
        self._zip = None
        self._members: dict[str, str] = {}
        if self.path.is_file():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (zipfile.BadZipFile, OSError):
                raise TransferError(f"{self.path.name} is neither a folder nor a zip file.") from None
            self._members = {name.removeprefix("./"): name for name in self._zip.namelist()}

    def read(self, relative: str) -> bytes | None:
        """Return the file at ``relative`` inside the folder, or ``None`` when it is not there (or leads outside)."""
        parts = PurePosixPath(relative).parts
        if not parts or ".." in parts or relative.startswith("/"):
            return None
        limit = current_app.config["UPLOAD_MAX_BYTES"]
        if self._zip is not None:
            return self._read_member(relative, limit)
        root = self.path.resolve()
        target = (root / relative).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        if target.stat().st_size > limit:
            raise UploadError(f"it is larger than {limit / 1_048_576:.0f} MB, the most an image may be")
        return target.read_bytes()

    def _read_member(self, relative: str, limit: int) -> bytes | None:
        assert self._zip is not None
        # A zip of the folder may hold it at its top level, or inside the folder's own name.
        names = self._members
        found = names.get(relative) or next((names[name] for name in names if name.endswith("/" + relative)), None)
        if found is None:
            return None
        if self._zip.getinfo(found).file_size > limit:
            raise UploadError(f"it is larger than {limit / 1_048_576:.0f} MB, the most an image may be")
        return self._zip.read(found)

    def bring_images(self, html: str) -> str:
        """Return ``html`` with each link to an image of the old blog pointing at its imported copy instead."""
        return LINK.sub(lambda match: self._relinked(match), html)

    def image_address(self, address: str) -> str | None:
        """Return the address of the imported copy of the image at ``address``, importing it if needed."""
        relative = self._relative_path(address)
        if relative is None:
            return None
        if relative not in self.imported and relative not in self.missing:
            self._import(relative)
        return self.imported.get(relative)

    def _relinked(self, match: re.Match[str]) -> str:
        new = self.image_address(match["address"])
        return match[0] if new is None else f'{match["attribute"]}="{new}"'

    def _relative_path(self, address: str) -> str | None:
        try:
            path = unquote(urlsplit(address.replace("&amp;", "&")).path)
        except ValueError:  # not an address at all ("http://[x/…"): a link the import leaves alone
            return None
        if self.marker not in path or not path.lower().endswith(IMAGE_SUFFIXES):
            return None
        return path.split(self.marker, 1)[1]

    def _import(self, relative: str) -> None:
        try:
            content = self.read(relative)
            if content is None:
                self.missing[relative] = "it is not in the media folder"
                return
            checked, kind = checked_image(content)
        except UploadError as error:
            self.missing[relative] = str(error)
            return
        except UNREADABLE as error:  # a name the system refuses, or a zip member that is corrupt or encrypted
            self.missing[relative] = f"it could not be read ({type(error).__name__})"
            return
        name = f"{hashlib.sha256(checked).hexdigest()[:32]}.{kind}"
        if not self.dry_run and not (uploads_folder() / name).exists():
            write_upload(name, checked)
            self.stored.append(name)
        with current_app.test_request_context():  # the command line has no request; the address is a path anyway
            self.imported[relative] = url_for("uploads.serve_upload", name=name)

    def notes(self) -> list[str]:
        """Sentences for the owner: how many images came in, and each one left out with why."""
        count = len(self.imported)
        verb = "would be" if self.dry_run else ("was" if count == 1 else "were")
        brought = f"{count} {'image' if count == 1 else 'images'} {verb} brought in from {self.path.name}."
        notes = [brought] if count else []
        notes += [f"The image {path} was left out: {why}." for path, why in sorted(self.missing.items())]
        return notes

    def report_to(self, summary: ImportSummary) -> None:
        """Add what happened to the images to the import's summary."""
        summary.images += self.notes()
