"""The docs name files that exist: every relative link in a Markdown page, every file path written
in backticks in one, and every repository path a Python comment or docstring names. A file that
moves fails here instead of leaving a page or a comment pointing nowhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TRACKED = subprocess.run(
    ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
).stdout.split()
TOP_LEVEL = {name.split("/")[0] for name in TRACKED}
EXTENSIONS = "py|md|sql|toml|json|lua|mjs|sh|graphql|txt|cfg|ini|yaml|yml|html|css|js"
PAGES = sorted(name for name in TRACKED if name.endswith(".md") and "/vendor/" not in name)
SOURCES = sorted(name for name in TRACKED if name.endswith(".py"))

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TICKED = re.compile(r"`([^`\s]+)`")
FILE_NAME = re.compile(rf"^[\w.-]+\.(?:{EXTENSIONS})$")
SOURCE_PATH = re.compile(
    rf"\b(?:{'|'.join(sorted(TOP_LEVEL - {'README.md'}))})/[\w/.-]+\.(?:{EXTENSIONS})\b"
)


def is_path(text: str) -> bool:
    """`application/json` and `100/second` are not paths; `schema/endpoint.py`, `bench/postgraphile`
    and `endpoint.py` are."""
    if "://" in text or text.startswith(("/", "-", "$")):
        return False
    if FILE_NAME.match(text.rsplit("/", 1)[-1]):
        return True
    return "/" in text and text.split("/")[0] in TOP_LEVEL


def exists(page: Path, target: str) -> bool:
    return (page.parent / target).exists() or (REPO / target).exists()


@pytest.mark.parametrize("name", PAGES)
def test_every_link_and_named_file_of_a_page_exists(name: str) -> None:
    page = REPO / name
    text = page.read_text()
    missing = [
        target
        for target in (link.split("#")[0] for link in LINK.findall(text))
        if target and ":" not in target and not (page.parent / target).exists()
    ]
    # A link's text is checked as its target; the rest of the backticked names by themselves.
    missing += [
        named
        for named in TICKED.findall(LINK.sub("", text))
        if is_path(named) and not exists(page, named)
    ]
    assert missing == []


def test_every_path_a_comment_names_exists() -> None:
    missing = [
        f"{name}: {path}"
        for name in SOURCES
        for path in SOURCE_PATH.findall((REPO / name).read_text())
        if not (REPO / path).exists()
    ]
    assert missing == []


def test_the_checks_see_what_they_check() -> None:
    """The patterns find the names the pages and sources really use (a regex that matched nothing
    would pass every page)."""
    assert {"README.md", "schema/README.md", "bench/README.md"} <= set(PAGES)
    assert all(map(is_path, ["schema/endpoint.py", "endpoint.py", "bench/postgraphile"]))
    assert not any(map(is_path, ["application/json", "100/second", "/api/chats", "GET"]))
    assert "schema/execution/private.py" in SOURCE_PATH.findall(
        (REPO / "tests/unit/test_private_api.py").read_text()
    )
