"""Reading a static site's Markdown files (Jekyll, Hugo, Pelican, Eleventy) from a folder or a zip of one.

Each file becomes a ``Document``: its front matter (YAML between ``---``, TOML between ``+++``, or Pelican's
``Key: value`` header) as a dictionary, and its Markdown. The folder may come from anywhere, so it is read as
a stranger's: links that lead out of it, files over ``MAX_FILE_BYTES``, files that are not UTF-8 and front
matter that does not parse are left out, each with the reason and the place, and the rest is read.
"""

from __future__ import annotations

import lzma
import os
import re
import stat
import tomllib
import zipfile
import zlib
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from pathlib import PurePosixPath
from typing import Any

import yaml
from frontmatter.default_handlers import BaseHandler
from frontmatter.default_handlers import YAMLHandler

from transfer.common import TransferError

MAX_FILE_BYTES = 2 * 1024 * 1024  # a long post is a few hundred kilobytes
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_FILES = 20_000
SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")
SKIPPED_FOLDERS = {"node_modules", "_site", "public", "output", "themes", "resources", "vendor"}
# Not posts: a Hugo section's list page (_index.md), and the files a repository keeps beside the site.
NOT_POSTS = {"_index", "readme", "license", "licence", "changelog", "contributing", "code_of_conduct"}
PELICAN_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_ -]*):\s*(.*)")
TOML_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")


class TomlHandler(BaseHandler):
    """Hugo's ``+++`` TOML front matter, read with Python's own tomllib (python-frontmatter's needs ``toml``)."""

    FM_BOUNDARY = re.compile(r"^\+{3,}\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str) -> dict[str, Any]:
        return tomllib.loads(fm)


HANDLERS = (YAMLHandler(), TomlHandler())


class FrontMatterError(ValueError):
    """A file's front matter cannot be read; the message names the line."""


@dataclass
class Document:
    """One Markdown file: where it was, what its front matter says, and its text."""

    path: PurePosixPath  # as in the folder, for messages
    site_path: PurePosixPath  # below the site's content folder (Hugo's content/), for the old address
    metadata: dict[str, Any]
    body: str
    style: str  # "yaml", "toml", "pelican" or "none"
    first_line: int = 1  # the body's first line in the file, for messages


@dataclass
class Site:
    """The Markdown files that were read, and those left out with why."""

    documents: list[Document] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    is_jekyll: bool = False


def read_site(path: Path) -> Site:
    """Read the posts of a static site's folder, or of a zip of one.

    Hugo's ``content/`` and Jekyll's ``_posts/`` and ``_drafts/`` are read when they are there (a Hugo theme's
    or a Jekyll site's other Markdown is not a post); otherwise every Markdown file outside hidden folders.

    :raise TransferError: when the path is neither a folder nor a zip, or holds no Markdown file.
    """
    site = Site()
    if path.is_dir():
        files = _folder_files(path, site)
    elif zipfile.is_zipfile(path):
        files = _zip_files(path, site)
    else:
        raise TransferError(f"{path.name} is neither a folder nor a zip of one.")
    files = _posts_of_the_site(files, site)
    if not files and not site.left_out:
        raise TransferError(f"{path.name} has no Markdown files ({', '.join(SUFFIXES)}): is it a static site's folder?")
    for name, raw, site_path in files:
        try:
            site.documents.append(parse_document(name, raw, site_path))
        except FrontMatterError as error:
            site.left_out.append(f"{name}: {error}")
    return site


def _is_markdown(name: PurePosixPath) -> bool:
    return name.suffix.lower() in SUFFIXES and name.stem.lower() not in NOT_POSTS


def _is_skipped_folder(part: str) -> bool:
    return part.startswith(".") or part in SKIPPED_FOLDERS


Files = list[tuple[PurePosixPath, bytes, PurePosixPath]]


def _folder_files(root: Path, site: Site) -> Files:
    root = root.resolve()
    files: Files = []
    total = 0
    for folder, subfolders, names in os.walk(root):  # does not follow links to folders
        here = Path(folder)
        for sub in [s for s in subfolders if (here / s).is_symlink()]:
            site.left_out.append(f"{(here / sub).relative_to(root)}/: a link to a folder; not followed.")
        subfolders[:] = sorted(s for s in subfolders if not _is_skipped_folder(s) and not (here / s).is_symlink())
        for name in sorted(names):
            file = here / name
            relative = PurePosixPath(file.relative_to(root).as_posix())
            if not _is_markdown(relative):
                continue
            try:
                target = file.resolve()
                status = target.stat()
            except RuntimeError:  # a link to itself, or round in a circle
                site.left_out.append(f"{relative}: a link that leads round in a circle; left out.")
                continue
            except OSError as error:
                site.left_out.append(f"{relative}: cannot be read ({error.strerror}); left out.")
                continue
            if file.is_symlink() and not target.is_relative_to(root):
                site.left_out.append(f"{relative}: a link to a file outside the folder; refused.")
                continue
            if not stat.S_ISREG(status.st_mode):  # reading a named pipe would wait forever
                site.left_out.append(f"{relative}: not a regular file (a pipe, device or socket); left out.")
                continue
            size = status.st_size
            if size > MAX_FILE_BYTES:
                site.left_out.append(f"{relative}: {_too_large(size)}")
                continue
            total += size
            if total > MAX_TOTAL_BYTES or len(files) >= MAX_FILES:
                raise TransferError(
                    f"The folder holds more than {MAX_TOTAL_BYTES // 1_048_576} MB or {MAX_FILES:,} Markdown files, "
                    "the most one import may be."
                )
            try:
                files.append((relative, file.read_bytes(), relative))
            except OSError as error:
                site.left_out.append(f"{relative}: cannot be read ({error.strerror}); left out.")
    return files


def _zip_files(path: Path, site: Site) -> Files:
    files: Files = []
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            unpacked = sum(member.file_size for member in members)
            if unpacked > MAX_TOTAL_BYTES or len(members) > MAX_FILES:
                raise TransferError(
                    f"The zip file unpacks to {unpacked / 1_048_576:,.0f} MB in {len(members):,} files; an import "
                    f"can be at most {MAX_TOTAL_BYTES // 1_048_576} MB in {MAX_FILES:,} files."
                )
            for member in members:
                name = PurePosixPath(member.filename)
                if member.is_dir() or not _is_markdown(name):
                    continue
                if name.is_absolute() or ".." in name.parts or "\\" in member.filename:
                    site.left_out.append(f"{member.filename}: a path that leads out of the folder; refused.")
                elif any(map(_is_skipped_folder, name.parts[:-1])):
                    continue
                elif stat.S_ISLNK(member.external_attr >> 16):
                    site.left_out.append(f"{name}: a link, which an import does not follow; refused.")
                elif member.file_size > MAX_FILE_BYTES:
                    site.left_out.append(f"{name}: {_too_large(member.file_size)}")
                else:
                    try:
                        files.append((name, archive.read(member), name))
                    except UNREADABLE_MEMBER as error:
                        site.left_out.append(f"{name}: cannot be unpacked ({_member_problem(error)}); left out.")
    except zipfile.BadZipFile as error:
        raise TransferError(f"The zip file is damaged: {error}.") from None
    return _without_common_folder(files)


# Encrypted (RuntimeError), an unknown compression method (NotImplementedError), or damaged data.
UNREADABLE_MEMBER = (
    RuntimeError,
    NotImplementedError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
)


def _member_problem(error: Exception) -> str:
    if isinstance(error, RuntimeError) and "encrypted" in str(error):
        return "it is encrypted"
    if isinstance(error, NotImplementedError):
        return "its compression method is not supported"
    return f"its data is damaged: {str(error) or type(error).__name__}"


def _without_common_folder(files: Files) -> Files:
    """Drop the one folder a zip of a folder usually starts with (``my-site/content/…``) from the site paths."""
    firsts = {site_path.parts[0] for _, _, site_path in files if len(site_path.parts) > 1}
    if len(firsts) != 1 or any(len(site_path.parts) == 1 for _, _, site_path in files):
        return files
    return [(name, raw, PurePosixPath(*site_path.parts[1:])) for name, raw, site_path in files]


def _posts_of_the_site(files: Files, site: Site) -> Files:
    """Keep Hugo's ``content/`` or Jekyll's ``_posts/`` and ``_drafts/`` when the site has them; name the rest."""
    hugo = [(n, r, PurePosixPath(*p.parts[1:])) for n, r, p in files if p.parts[0] == "content" and len(p.parts) > 1]
    if hugo:
        return hugo
    jekyll = [(n, r, p) for n, r, p in files if {"_posts", "_drafts"} & set(n.parts[:-1])]
    if jekyll:
        site.is_jekyll = True
        return jekyll
    return [(n, r, p) for n, r, p in files if not any(part.startswith("_") for part in p.parts[:-1])]


def _too_large(size: int) -> str:
    return f"{size / 1_048_576:,.1f} MB, over the {MAX_FILE_BYTES // 1_048_576} MB a Markdown file may be; left out."


def parse_document(name: PurePosixPath, raw: bytes, site_path: PurePosixPath) -> Document:
    """Split a Markdown file into its front matter and its text.

    :raise FrontMatterError: for a file that is not UTF-8 or whose front matter does not parse, naming the line.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FrontMatterError(f"not UTF-8 text (line {line}, byte {error.start + 1}); left out.") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    for handler, style in zip(HANDLERS, ("yaml", "toml"), strict=True):
        if handler.detect(text):
            body = _body(handler, text)
            metadata = _front_matter(handler, style, text)
            return Document(name, site_path, metadata, body, style, _line_of(text, body))
    header = _pelican_header(text)
    if header is not None:
        metadata, body = header
        return Document(name, site_path, metadata, body, "pelican", _line_of(text, body))
    return Document(name, site_path, {}, text, "none")


def _line_of(text: str, body: str) -> int:
    return text[: len(text) - len(body)].count("\n") + 1


def _body(handler: BaseHandler, text: str) -> str:
    if len(handler.FM_BOUNDARY.findall(text)) < 2:
        return text
    return handler.split(text)[1].lstrip("\n")


def _front_matter(handler: BaseHandler, style: str, text: str) -> dict[str, Any]:
    delimiter = handler.START_DELIMITER
    if len(handler.FM_BOUNDARY.findall(text)) < 2:
        raise FrontMatterError(f"the front matter opened with {delimiter} on line 1 is never closed; left out.")
    front_matter = handler.split(text)[0]
    try:
        metadata = handler.load(front_matter)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        place = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the front matter"
        problem = getattr(error, "problem", None) or str(error)
        raise FrontMatterError(f"the YAML front matter does not parse ({place}: {problem}); left out.") from None
    except tomllib.TOMLDecodeError as error:
        message = TOML_PLACE.sub(lambda m: f"(line {m[1]}, column {m[2]})", str(error))
        raise FrontMatterError(f"the TOML front matter does not parse: {message}; left out.") from None
    except RecursionError:
        raise FrontMatterError(f"the {style.upper()} front matter is nested too deeply; left out.") from None
    except ValueError as error:  # a value that parses but cannot be built, such as the date 2020-13-45
        raise FrontMatterError(
            f"the {style.upper()} front matter has a value that cannot be read ({error}); left out."
        ) from None
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise FrontMatterError(f"the {style.upper()} front matter is not a list of keys and values; left out.")
    return {str(key).lower(): value for key, value in metadata.items()}


def _pelican_header(text: str) -> tuple[dict[str, Any], str] | None:
    """Read Pelican's ``Title: …`` lines up to the first blank line, if the file starts with them."""
    lines = text.split("\n")
    end = next((number for number, line in enumerate(lines) if not line.strip()), len(lines))
    metadata: dict[str, Any] = {}
    key = ""
    for line in lines[:end]:
        match = PELICAN_KEY.fullmatch(line)
        if match:
            key = match[1].strip().lower()
            metadata[key] = match[2].strip()
        elif key and line[:1] in (" ", "\t"):
            metadata[key] += " " + line.strip()
        else:
            return None
    if "title" not in metadata:
        return None  # Pelican needs a title; "Note: …" on the first line is just text
    return metadata, "\n".join(lines[end:]).lstrip("\n")
