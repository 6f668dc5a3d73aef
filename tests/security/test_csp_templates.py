"""No template or script carries inline code or styles: the Content-Security-Policy would refuse them.

(tests/e2e/test_content_security_policy.py shows the pages working under the policy in Chromium.)
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
INLINE = {
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/(?:ld\+)?json)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[^>]+\son[a-z]+\s*=", re.I),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.I),
    "style element": re.compile(r"<style[\s>]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def test_no_template_or_script_has_inline_code_or_styles() -> None:
    found = []
    for path in sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("apps/**/templates/**/*.html"), *ROOT.glob("static/js/*.js")]):
        text = path.read_text()
        for what, pattern in INLINE.items():
            if path.suffix == ".js" and what != "javascript: URL":
                continue  # scripts may set styles through the DOM, which the policy allows
            for match in pattern.finditer(text):
                found.append(f"{path.relative_to(ROOT)}: {what}: {match.group(0)[:80]}")
    assert not found, "\n".join(found)


def test_every_page_gets_the_policy(db: None) -> None:
    response = Client().get("/")
    assert response["Content-Security-Policy"] == settings.CONTENT_SECURITY_POLICY
    directives = dict(d.strip().split(" ", 1) for d in settings.CONTENT_SECURITY_POLICY.split(";"))
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-inline" not in directives["style-src"]
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
