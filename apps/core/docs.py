"""Documentation pages: the managers' Markdown pages (DocPage, edited in the admin) and the generated ones.

Markdown is rendered by python-markdown and the HTML then reduced by nh3 to a fixed set of tags and
attributes: a page can carry links, tables and code, never a script, a style or an event handler
(the Content-Security-Policy would block those anyway; here they never reach the page).
"""

from __future__ import annotations

import markdown
import nh3
from django.urls import NoReverseMatch, reverse

TAGS = {"a", "abbr", "blockquote", "br", "code", "dd", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol",
        "p", "pre", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"align"}, "td": {"align"}, "h2": {"id"}, "h3": {"id"}}


def render_markdown(text: str) -> str:
    """Safe HTML from Markdown written by a manager (links keep to http(s), mailto and this site)."""
    html = markdown.markdown(text, extensions=["tables", "fenced_code", "toc"])
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto"}, link_rel="noopener")


def generated_pages() -> list[tuple[str, str, str]]:
    """(title, url, what it is) of the pages the portal writes itself from its own configuration and code."""
    pages = [("ADQL reference", "query:adql_reference", "Every operator and function this service runs, with NULL rules and units."),
             ("Engines, queues and limits", "query:limits", "Where queries run, how long they may take and how much they keep."),
             ("Example queries", "tap:examples", "The TAP examples (DALI), runnable from the query page."),
             ("TAP: TOPCAT, pyvo, astroquery", "tap:root", "The TAP service's address and how to use it from each client.")]
    out = []
    for title, name, what in pages:
        try:
            out.append((title, reverse(name), what))
        except NoReverseMatch:
            continue
    return out
