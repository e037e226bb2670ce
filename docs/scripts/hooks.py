"""MkDocs hooks: MathJax served from the site itself, so that no page fetches anything at view time.

MathJax 2.7 comes from the jupyter-server-mathjax wheel (Apache-2.0; its LICENSE is copied along) and is
copied to site/assets/mathjax/ after the build. Markdown pages (pymdownx.arithmatex, generic mode) get a
script tag pointing at it; notebook pages (mkdocs-jupyter) carry the placeholder TGM_LOCAL_MATHJAX as their
MathJax address (mkdocs.yml), replaced here by the same local file, and lose nbconvert's mermaid loader.
"""

import os
import posixpath
import re
import shutil

MATHJAX = "assets/mathjax/MathJax.js"
PLACEHOLDER = "TGM_LOCAL_MATHJAX"
# nbconvert's page template imports mermaid from a CDN when a cell holds a diagram; no notebook here does
MERMAID = re.compile(r"<script type=\"module\">(?:(?!</script>).)*?mermaid(?:(?!</script>).)*</script>", re.S)
# The wheel holds MathJax's HTML-CSS output with the STIX-Web fonts (not CommonHTML and its TeX fonts).
FONTS = (
    "'HTML-CSS': {availableFonts: [], webFont: 'STIX-Web', imageFont: null, preferredFont: null, "
    "linebreaks: {automatic: true}}"  # a long docstring formula wraps instead of running off the page
)
QUERY = "?config=TeX-AMS-MML_HTMLorMML-full,Safe"
# arithmatex wraps formulas in \( \) and \[ \] inside elements of class "arithmatex"; only those are typeset
CONFIG = (
    "<script>window.MathJax = {tex2jax: {inlineMath: [['\\\\(', '\\\\)']], displayMath: [['\\\\[', '\\\\]']], "
    "processEscapes: true, processEnvironments: true, ignoreClass: '.*|', processClass: 'arithmatex'}, "
    f"messageStyle: 'none', {FONTS}}};</script>\n"
)


def _mathjax_source():
    import jupyter_server_mathjax

    return os.path.join(os.path.dirname(jupyter_server_mathjax.__file__), "static")


def on_post_page(output, page, config):
    """Point the page at the local MathJax (notebook pages: replace the placeholder; others: add it)."""
    url = posixpath.relpath(MATHJAX, start=page.url.rstrip("/") or ".")
    if PLACEHOLDER in output:
        output = MERMAID.sub("", output)
        before = output.rfind("<script", 0, output.index(PLACEHOLDER))
        fonts = f"<script>window.MathJax = {{{FONTS}}};</script>\n"
        return output[:before] + fonts + output[before:].replace(PLACEHOLDER, url + QUERY)
    script = f'{CONFIG}<script src="{url}{QUERY}"></script>\n'
    return output.replace("</head>", script + "</head>", 1)


def on_post_build(config):
    """Copy MathJax (its code, the TeX input, the HTML-CSS output and its web fonts) into the built site."""
    source, target = _mathjax_source(), os.path.join(config["site_dir"], "assets", "mathjax")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("localization", "SVG"), dirs_exist_ok=True)


def on_config(config):
    """The navigation in reading order (the pages are generated, so the lists come from the package)."""
    import glob
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from site_ops import FAMILIES

    from tinygrad_med.models import MODELS

    books = sorted(glob.glob(os.path.join(config["docs_dir"], "notebooks", "*.py")))
    config["nav"] = [
        {"Home": "index.md"},
        {"Getting started": "getting-started.md"},
        {"The lecture, slide by slide": "lecture-map.md"},
        {"Ops": ["ops/index.md"] + [{title: f"ops/{stem}.md"} for stem, (title, *_) in FAMILIES.items()]},
        {"Models": ["models/index.md"] + [{name: f"models/{name}.md"} for name in MODELS]},
        {"Notebooks": ["notebooks/index.md"] + [f"notebooks/{os.path.basename(b)}" for b in books]},
        {"The tgm command": "cli.md"},
        {"Core API": "api.md"},
    ]
    return config
