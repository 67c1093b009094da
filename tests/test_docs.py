"""The docs hold together: every relative link and anchor resolves, every page is in the index, generated tables are
current.

A reader who follows a link to a page or heading that is gone is lost; these checks make a rename or a moved section
fail here instead of in someone's browser. Anchors follow GitHub's rule for heading ids (lower case, punctuation
dropped, spaces to hyphens, ``-1``, ``-2`` for repeats); headings and links inside code blocks and code spans do not
count.
"""
from __future__ import annotations

import doctest
import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from scripts import runbook_table

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
INDEX = DOCS / "README.md"
PAGES = sorted([ROOT / "README.md", *DOCS.glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_HTML_ID = re.compile(r"""<a\s+(?:name|id)=["']([^"']+)["']""")


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where a '#' or '[x](y)' is code, not markdown."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's id for a heading.

    >>> slug("Delivery guarantee, restarts and state")
    'delivery-guarantee-restarts-and-state'
    >>> slug("`inferwatch config show`")
    'inferwatch-config-show'
    >>> slug("Grouping: related alerts share one Slack thread")
    'grouping-related-alerts-share-one-slack-thread'
    """
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every id a link into ``path`` may name: its headings' slugs (numbered on repeats) and explicit HTML ids."""
    text = _FENCE.sub("", path.read_text())
    seen: dict[str, int] = {}
    ids = set(_HTML_ID.findall(text))
    for heading in _HEADING.findall(text):
        base = slug(heading)
        ids.add(base if base not in seen else f"{base}-{seen[base]}")
        seen[base] = seen.get(base, 0) + 1
    return ids


def relative_links(path: Path) -> list[str]:
    return [target for target in _LINK.findall(prose(path.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I)]


def link_cases():
    for page in PAGES:
        for target in relative_links(page):
            yield pytest.param(page, target, id=f"{page.relative_to(ROOT)}->{target}")


@pytest.mark.parametrize("page, target", list(link_cases()))
def test_every_relative_link_resolves_to_a_file_and_heading(page, target):
    file_part, _, anchor = target.partition("#")
    destination = (page.parent / unquote(file_part)).resolve() if file_part else page
    assert destination.exists(), f"{page.relative_to(ROOT)}: link to missing {file_part}"
    if anchor:
        assert destination.suffix == ".md", f"{page.relative_to(ROOT)}: anchor #{anchor} into a non-markdown file"
        assert anchor in anchors(destination), \
            f"{page.relative_to(ROOT)}: no heading #{anchor} in {destination.relative_to(ROOT)}"


def test_the_checker_sees_broken_links_and_ignores_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Top\n[a](gone.md) [b](#top) [c](https://example.com)\n`[d](nope.md)`\n"
                    "```\n[e](nope.md)\n# Not a heading\n```\n## Top\n")
    assert relative_links(page) == ["gone.md", "#top"]
    assert anchors(page) == {"top", "top-1"}


def test_every_docs_page_is_in_the_index():
    linked = {(DOCS / target.partition("#")[0]).resolve() for target in relative_links(INDEX)}
    missing = [p.name for p in DOCS.glob("*.md") if p != INDEX and p.resolve() not in linked]
    assert not missing, f"docs/README.md does not link {missing}"


def test_the_readme_links_the_docs_index_and_stays_short():
    readme = ROOT / "README.md"
    assert "docs/README.md" in relative_links(readme)
    assert len(readme.read_text().splitlines()) <= 120, "README.md is a one-or-two-screen overview; topics go to docs/"
    assert "`pdpyras`, its predecessor, is deprecated" in readme.read_text()


def test_the_shipped_runbooks_table_matches_the_runbook_files():
    page = runbook_table.PAGE.read_text()
    assert page == runbook_table.with_table(page), \
        "docs/runbooks.md: shipped-runbooks table is stale; run .venv/bin/python scripts/runbook_table.py"
    for path in sorted((ROOT / "runbooks").glob("*.md")):
        assert f"(../runbooks/{path.name})" in page


def test_the_runbook_table_script_doctests():
    assert doctest.testmod(runbook_table).failed == 0
