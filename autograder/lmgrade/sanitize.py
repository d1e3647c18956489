"""Feedback that runs no student script: every piece of student-controlled HTML is cleaned by nh3.

nbconvert renders markdown cells with their raw HTML, and outputs with their ``text/html`` and
``application/javascript`` data, into the feedback page that the student and the instructor open:
a markdown answer ``<img src=x onerror=...>`` or ``display(Javascript(...))`` would run in their
browser. This preprocessor, run by ``nbgrader generate_feedback``, renders each markdown cell to
HTML itself and cleans it with nh3 (the Rust ammonia sanitiser: a whitelist of tags, attributes and
URL schemes), cleans ``text/html`` outputs the same way, turns ``text/markdown`` outputs into
cleaned HTML, drops script-like outputs (JavaScript, SVG, widget views) and the notebook's widget
state. The page template's own scripts (MathJax) are untouched.
"""
from __future__ import annotations

import nh3
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbgrader.preprocessors import NbGraderPreprocessor

#: output types whose content could run code in a browser
DROPPED = {"application/javascript", "text/javascript", "application/x-javascript", "image/svg+xml",
           "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json", "text/vnd.plotly.v1+html"}
TAGS = set(nh3.ALLOWED_TAGS) | {"details", "summary", "span", "div", "sub", "sup", "figure", "figcaption"}
ATTRIBUTES = {**{t: set(a) for t, a in nh3.ALLOWED_ATTRIBUTES.items()},
              "img": {"src", "alt", "title", "width", "height"}, "span": {"class"}, "div": {"class"},
              "code": {"class"}, "pre": {"class"}, "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"}}


def clean_html(html: str) -> str:
    return nh3.clean(html, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "mailto", "data"},
                     link_rel="noopener noreferrer")


def clean_markdown(source: str) -> str:
    """The markdown as cleaned HTML (which markdown renders as it is)."""
    return clean_html(markdown2html_mistune(source))


def clean_cell(cell) -> None:
    if cell.get("cell_type") == "markdown":
        cell.source = clean_markdown(cell.get("source", ""))
        return
    if cell.get("cell_type") == "raw":
        cell.source = clean_html(cell.get("source", ""))
        return
    outputs = []
    for out in cell.get("outputs", []):
        data = out.get("data")
        if data is not None:
            for key in list(data):
                if key in DROPPED or "javascript" in key:
                    del data[key]
            if "text/html" in data:
                html = data["text/html"]
                data["text/html"] = clean_html(html if isinstance(html, str) else "".join(html))
            if "text/markdown" in data:
                md = data.pop("text/markdown")
                data.setdefault("text/html", clean_markdown(md if isinstance(md, str) else "".join(md)))
            if not data:
                continue
        outputs.append(out)
    if "outputs" in cell:
        cell.outputs = outputs


class SanitizeFeedback(NbGraderPreprocessor):
    """Clean every student-controlled piece of HTML before nbconvert renders the feedback."""

    def preprocess(self, nb, resources):  # type: ignore[override]
        nb.metadata.pop("widgets", None)
        for cell in nb.cells:
            clean_cell(cell)
        return nb, resources
