"""The documentation holds together: the configuration page is the one table of context keys, as generated, and
every relative link in the README and docs/ reaches a file (and, when it names one, a heading) that exists."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from infra.config import CONTEXT_KEYS
from infra.context_docs import REGENERATE, render

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) outside code; images and reference-style links are not used in these pages.
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_CODE = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _prose(text: str) -> str:
    """The page without code blocks and inline code, where a bracket is not a link."""
    return _CODE.sub("", _FENCE.sub("", text))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = unicodedata.normalize("NFKC", heading).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = _anchor(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    return anchors


def _relative_links(page: Path) -> list[str]:
    return [
        target
        for target in _LINK.findall(_prose(page.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # https:, mailto: ...: not ours to check offline
    ]


def test_the_configuration_page_is_the_generated_table_of_context_keys() -> None:
    written = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert written == render(), f"docs/configuration.md is out of date; regenerate it: {REGENERATE}"


def test_the_generated_page_lists_every_context_key_once() -> None:
    rows = re.findall(r"^\| `(\w+)` \|", render(), re.MULTILINE)
    assert rows == list(CONTEXT_KEYS)


def test_the_anchor_rule_matches_githubs_on_headings_these_pages_use() -> None:
    assert _anchor("What sgwatch guarantees, and the tests that try to break it") == (
        "what-sgwatch-guarantees-and-the-tests-that-try-to-break-it"
    )
    assert _anchor("`sgwatch classify`") == "sgwatch-classify"
    assert _anchor("Cost and scale: 1, 10, 500 accounts") == "cost-and-scale-1-10-500-accounts"


def test_the_readme_and_every_docs_page_have_relative_links_to_check() -> None:
    """The link check below would pass vacuously if the pattern stopped matching."""
    assert len(PAGES) > 5
    assert _relative_links(ROOT / "README.md")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in _relative_links(page):
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif fragment and destination.suffix == ".md" and fragment not in _anchors(destination):
            broken.append(f"{target}: no heading with that anchor in {destination.relative_to(ROOT)}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)
