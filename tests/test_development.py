"""A developer's first ``make test``: what the suite needs beyond Python is said at the start, with how to get it."""

from __future__ import annotations

from helpers import TEST_TOOLS
from helpers import missing_test_tools
from helpers import missing_tools_report


def test_a_machine_without_the_tools_is_told_each_one_and_how_to_get_it(tmp_path):
    missing = missing_test_tools(search_path=str(tmp_path), vnu_jar=tmp_path / "vnu.jar")

    assert missing_tools_report(missing) == [
        "Missing for some tests, which will be reported as skipped:",
        "  - Chromium, for the browser and accessibility tests: sudo apt-get install chromium",
        "  - nginx, for the tests of the deploy guide's nginx site: sudo apt-get install nginx-light",
        "  - Java, for the HTML validity test: sudo apt-get install default-jre-headless",
        "  - npm, for installing the Node test tools: sudo apt-get install npm",
        "  - the Nu HTML Checker, for the HTML validity test: npm ci (make test runs it when npm is there)",
    ]


def test_a_machine_with_every_tool_is_told_nothing(tmp_path):
    for _, program, _, _ in TEST_TOOLS:
        (tmp_path / program).write_text("#!/bin/sh\n")
        (tmp_path / program).chmod(0o755)
    (tmp_path / "vnu.jar").write_bytes(b"")

    missing = missing_test_tools(search_path=str(tmp_path), vnu_jar=tmp_path / "vnu.jar")

    assert missing == [] and missing_tools_report(missing) == []
