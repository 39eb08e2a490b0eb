"""Markdown to HTML that is safe to put in a page.

Markdown assets and plugin details are written by people and plugins we do not trust,
so rendering is two steps. markdown-it renders CommonMark with raw HTML turned off: a
`<script>` in the text shows up as the literal text `<script>`, which is also what an
annotator needs to see. Then nh3 (the Rust ammonia sanitizer) keeps only an allow-list of
tags and attributes, as a second line of defence: no scripts, no event handlers, no
javascript: URLs, no styles.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub", "sup",
    "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
}


def render_markdown(text: str) -> str:
    """Sanitized HTML for `text`. Links get rel="noopener noreferrer nofollow"."""
    return nh3.clean(
        _MARKDOWN.render(text),
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
