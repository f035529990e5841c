"""The documentation as a newcomer meets it: a short README that shows the wallboard and leads to
every page of docs/, links that lead somewhere, and every option the programs take documented."""

import glob
import os
import re
import subprocess

import pytest

from support import HERE, command

ROOT = os.path.dirname(HERE)
README = os.path.join(ROOT, "README.md")
PAGES = sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path):
    with open(path, encoding="utf-8") as source:
        return source.read()


def anchors(path):
    """The anchors of a Markdown file's headings, as GitHub makes them."""
    headings = re.findall(r"^#+ (.*)$", read(path), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_readme_is_short_shows_the_wallboard_and_links_every_page():
    assert os.path.getsize(README) <= 10 * 1024
    text = read(README)
    assert "(docs/wallboard.png)" in text
    assert "make run" in text and "make test" in text
    linked = set(LINK.findall(text))
    assert [page for page in PAGES if "docs/" + os.path.basename(page) not in linked] == []


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: os.path.relpath(path, ROOT))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    broken = []
    for target in LINK.findall(read(path)):
        if re.match(r"[a-z]+:", target):
            continue  # http:, https:, mailto:
        name, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(path), name)) if name else path
        if not os.path.exists(linked) or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("program", ["callcenter", "callcenter-server", "callcenter-client", "callcenter-healthcheck"])
def test_every_option_a_program_lists_in_its_help_is_in_docs_options(program):
    shown = subprocess.run([command(program), "--help"], stdout=subprocess.PIPE, check=True).stdout.decode()
    options = set(re.findall(r"^\s+(?:-\w, )?(--[\w-]+)", shown, re.MULTILINE))
    assert "--help" in options
    documented = read(os.path.join(ROOT, "docs", "options.md"))
    assert sorted(name for name in options if not re.search(re.escape(name) + r"(?![\w-])", documented)) == []
