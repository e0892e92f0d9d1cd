"""The dashboard's static files keep to the rules the server's CSP and the event stream rely on."""

from __future__ import annotations

import re

from quarterdeck.api.pages import router
from quarterdeck.domain.events import EventType
from quarterdeck.web import PAGES, STATIC_DIR


def test_the_live_stream_listens_for_every_event_type() -> None:
    source = (STATIC_DIR / "js" / "live.js").read_text()
    listed = re.search(r"export const EVENT_TYPES = \[(.*?)\];", source, re.S)
    assert listed is not None
    assert re.findall(r'"([a-z_.]+)"', listed.group(1)) == [t.value for t in EventType]


def test_no_inline_scripts_styles_or_handlers() -> None:
    """default-src 'self' forbids them: every script is a file, every style in the stylesheet."""
    for html in STATIC_DIR.glob("*.html"):
        text = html.read_text()
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", text) == [], html.name
        assert re.findall(r"\son[a-z]+=", text) == [], html.name
        assert "style=" not in text, html.name
        assert "<style" not in text, html.name
        for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', text):
            assert (STATIC_DIR / ref.removeprefix("/static/")).is_file(), f"{html.name}: {ref}"
    for script in STATIC_DIR.glob("js/**/*.js"):
        text = script.read_text()
        assert "style=" not in text, script.name
        assert "eval(" not in text, script.name
        assert "new Function" not in text, script.name


def test_every_page_has_a_route_and_a_module() -> None:
    paths = {getattr(route, "path", None) for route in router.routes}
    assert set(PAGES) | {"/login"} <= paths
    for name in set(PAGES.values()):
        assert (STATIC_DIR / "js" / "pages" / f"{name}.js").is_file(), name


def test_the_vendored_files_are_the_pinned_version() -> None:
    lock = (STATIC_DIR.parents[3] / "tools" / "web" / "package-lock.json").read_text()
    version = re.search(r'"node_modules/@highlightjs/cdn-assets": \{\s*"version": "([^"]+)"', lock)
    assert version is not None
    assert (STATIC_DIR / "vendor" / "highlight" / "VERSION").read_text().startswith(f"highlight.js {version.group(1)} ")


def test_the_shell_preloads_every_module() -> None:
    """The run view must draw 200 tasks in under a second: no module may wait for its importer to load."""
    shell = (STATIC_DIR / "app.html").read_text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="/static/(js/[^"]+)">', shell))
    assert preloaded == {str(p.relative_to(STATIC_DIR)) for p in STATIC_DIR.glob("js/**/*.js")} - {"js/login.js"}
