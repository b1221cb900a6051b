"""Write the colours of highlighted code into static/style.css, between its "code colours" markers.

markup.py marks fenced code in posts with Pygments' short class names; this turns two Pygments styles into
the rules for them: "xcode" in the light scheme and "lightbulb" in the dark one, each on its own background,
where every colour they give has a contrast of at least 4.5:1 (WCAG AA; axe checks it). The rules are
minimized: no comments, nothing for line numbers (Inkwell shows none), colours equal to the code's own left out,
and selectors that share declarations joined. Run it after upgrading Pygments: ``make code-css``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from pygments.formatters import HtmlFormatter

ROOT = Path(__file__).resolve().parent.parent
STYLESHEET = ROOT / "static" / "style.css"
SCHEMES = {"light": "xcode", "dark": "lightbulb"}
START, END = "/* code colours (bench/build_code_css.py) */\n", "/* end of code colours */\n"
RULE = re.compile(r"^(pre(?: \.[\w-]+)?) \{ ([^}]*) \}")
PLAIN = {"color: #000", "color: #000000", "line-height: 125%"}


def rules(style: str) -> str:
    """Return one Pygments style's rules for ``pre`` and its spans, minimized."""
    selectors: dict[str, list[str]] = defaultdict(list)
    plain = set(PLAIN)
    for line in HtmlFormatter(style=style).get_style_defs("pre").splitlines():
        match = RULE.match(line)
        if not match or ".hll" in match.group(1):
            continue
        declarations = [part.strip() for part in match.group(2).split(";") if part.strip()]
        declarations = [part.lower() for part in declarations if part.lower() not in plain]
        if match.group(1) == "pre":  # the style's own text colour, which its spans need not repeat
            plain |= {part for part in declarations if part.startswith("color:")}
        if declarations:
            selectors[";".join(declarations).replace(": ", ":")].append(match.group(1))
    return "".join(f"{','.join(names)}{{{body}}}" for body, names in selectors.items())


def main() -> None:
    """Replace the stylesheet's code colours with those of the pinned Pygments."""
    css = STYLESHEET.read_text()
    block = "".join(f"@media (prefers-color-scheme:{scheme}){{{rules(style)}}}\n" for scheme, style in SCHEMES.items())
    before, _, rest = css.partition(START)
    _, _, after = rest.partition(END)
    STYLESHEET.write_text(f"{before}{START}{block}{END}{after}")
    print(f"{len(block):,} characters of code colours")


if __name__ == "__main__":
    main()
