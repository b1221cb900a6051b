"""Build the blog's fonts: Literata (text) and Inter (headings, labels, dates) as small WOFF2 files.

Takes the variable fonts from the npm registry's ``@fontsource-variable/*`` packages (SIL Open Font License
1.1; the packages carry the licence text), installed into a temporary folder: the blog itself needs no Node.
Neither family declares a Reserved Font Name, so the subsets made here (modified versions, to the OFL) may
keep their names; Source Serif 4, say, reserves "Source", and a subset of it would have to be renamed.
Each face is subset with fontTools to Latin (Basic, Latin-1, common punctuation, €, ™, arrows, minus) and,
in a second file the browser fetches only for a page that uses one of them, Latin Extended-A (Polish,
Czech, Hungarian, Turkish, Baltic letters…) plus Romanian's ș ț; the weight axis is cut to 400–700, the
weights the stylesheet uses, which takes about a third off each file. The result goes to static/fonts/ with
the licences beside it, and the ``?v=`` fingerprints in static/style.css's @font-face rules are rewritten to
match, so browsers keep the files for a year and the preload in base.html matches the stylesheet's address.

Run it with ``make fonts`` (npm, and fonttools and brotli from requirements-dev.txt).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer

ROOT = Path(__file__).resolve().parent.parent
FONTS = ROOT / "static" / "fonts"
STYLESHEET = ROOT / "static" / "style.css"

PACKAGES = {"literata": "5.3.0", "inter": "5.3.0"}
LICENCES = {"literata": "OFL-literata.txt", "inter": "OFL-inter.txt"}
FACES = [  # (package, style): both families' upright, the text serif's italic
    ("literata", "normal"),
    ("literata", "italic"),
    ("inter", "normal"),
]
WEIGHTS = (400, 700)
# These ranges are also the @font-face unicode-range values in static/style.css.
LATIN = "U+0000-00FF,U+0131,U+0152-0153,U+02C6,U+02DA,U+02DC,U+2000-206F,U+20AC,U+2122,U+2190-2193,U+2212,U+FFFD"
LATIN_EXT = "U+0100-0130,U+0132-0151,U+0154-017F,U+0218-021B,U+02C7,U+02D8-02D9,U+02DB,U+02DD"


def code_points(ranges: str) -> list[int]:
    """Return the code points a CSS unicode-range value names."""
    points = []
    for part in ranges.split(","):
        first, _, last = part.removeprefix("U+").partition("-")
        points += range(int(first, 16), int(last or first, 16) + 1)
    return points


def subset_face(source: Path, ranges: str, target: Path) -> None:
    """Write ``source`` cut to ``ranges`` and to the weights the stylesheet uses, as WOFF2."""
    font = TTFont(source, recalcTimestamp=False)  # the same input gives the same bytes, and the same address
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]  # kerning, ligatures, tabular and old-style figures stay
    options.name_IDs = ["*"]  # the copyright and licence names the OFL asks to keep
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=code_points(ranges))
    subsetter.subset(font)
    font = instancer.instantiateVariableFont(font, {"wght": WEIGHTS})
    font.recalcTimestamp = False
    font.flavor = "woff2"
    font.save(target)


def fingerprint(path: Path) -> str:
    """Return the ``?v=`` value app.register_static_fingerprints gives this file."""
    return hashlib.blake2b(path.read_bytes(), digest_size=5).hexdigest()


def main() -> None:
    """Install the packages in a temporary folder, subset each face, copy the licences, update the CSS."""
    FONTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        specs = [f"@fontsource-variable/{name}@{version}" for name, version in PACKAGES.items()]
        subprocess.run(
            ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", folder, *specs], check=True
        )
        packages = Path(folder) / "node_modules" / "@fontsource-variable"
        for name, licence in LICENCES.items():
            shutil.copyfile(packages / name / "LICENSE", FONTS / licence)
        for name, style in FACES:
            for subset_name, ranges in (("latin", LATIN), ("latin-ext", LATIN_EXT)):
                source = packages / name / "files" / f"{name}-{subset_name}-wght-{style}.woff2"
                subset_face(source, ranges, FONTS / f"{name}-{subset_name}-{style}.woff2")
    css = STYLESHEET.read_text()
    for font in sorted(FONTS.glob("*.woff2")):
        css = re.sub(
            rf"url\(fonts/{re.escape(font.name)}(\?v=\w+)?\)", f"url(fonts/{font.name}?v={fingerprint(font)})", css
        )
        print(f"{font.name}: {font.stat().st_size:,} bytes")
    STYLESHEET.write_text(css)
    print(f"total: {sum(font.stat().st_size for font in FONTS.glob('*.woff2')):,} bytes")


if __name__ == "__main__":
    main()
