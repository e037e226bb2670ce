"""The documentation site: `mkdocs build --strict` passes, nothing is fetched at view time, and in headless
Chromium the home page, an op page and a notebook page show typeset formulas and no missing image.

Skipped when the "docs" extra is not installed; the browser test is skipped without Debian's chromium.
Screenshots go to build/ci-artefacts/screenshots/ (or $TGM_ARTEFACTS/screenshots/).
"""

import functools
import glob
import html.parser
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEEDED = ("mkdocs", "material", "mkdocs_gen_files", "mkdocs_jupyter", "mkdocstrings", "jupyter_server_mathjax")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed (missing {', '.join(MISSING)})"),
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built once with warnings as errors; returns its folder."""
    out = tmp_path_factory.mktemp("site") / "site"
    env = {**os.environ, "PYTHONPATH": ROOT, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    pages = glob.glob(str(out / "**" / "index.html"), recursive=True)
    print(f"\ndocs site: {len(pages)} pages built in {time.perf_counter() - begin:.1f} s -> {out}")
    return out


def _notebook_page():
    """The first notebook with a formula in it."""
    for path in sorted(glob.glob(f"{ROOT}/docs/notebooks/*.py")):
        with open(path, encoding="utf-8") as handle:
            if "$" in handle.read():
                return f"notebooks/{os.path.splitext(os.path.basename(path))[0]}/"
    raise AssertionError("no notebook in docs/notebooks/ has a formula to check")


def test_site_has_the_pages_the_package_defines(site):
    from tinygrad_med.models import MODELS

    for page in ["", "getting-started/", "cli/", "lecture-map/", "ops/", "ops/conv/", "models/", _notebook_page()]:
        assert (site / page / "index.html").exists(), page
    for name in MODELS:
        assert (site / "models" / name / "index.html").exists(), name
    for kernel in glob.glob(f"{ROOT}/kernels/*.cu"):
        stem = os.path.splitext(os.path.basename(kernel))[0]
        if stem not in ("common", "selftest"):
            assert (site / "ops" / stem / "index.html").exists(), stem
    conv = (site / "ops" / "conv" / "index.html").read_text()
    assert "__global__" in conv and "im2col" in conv  # the kernel source was included
    assert "ConvNd" in conv and "col2im" in conv  # and the reference code
    cli = (site / "cli" / "index.html").read_text()
    assert "tgm train" in cli and "--quick" in cli


def _manifests():
    """{folder name: manifest} of the pictures committed under docs/pictures/ (real `tgm train` runs)."""
    found = {}
    for path in sorted(glob.glob(f"{ROOT}/docs/pictures/*/manifest.json")):
        with open(path) as handle:
            found[os.path.basename(os.path.dirname(path))] = json.load(handle)
    return found


def test_model_pages_show_their_committed_pictures(site):
    from tinygrad_med.models import MODELS

    manifests = _manifests()
    assert manifests, "no run's pictures are committed under docs/pictures/"
    pictured = {manifest["model"] for manifest in manifests.values()}
    for folder, manifest in manifests.items():
        assert folder == f"{manifest['model']}-{manifest['data']}" and manifest["model"] in MODELS, folder
        assert manifest["command"].startswith(f"tgm train {manifest['model']} --data {manifest['data']}"), folder
        assert len(manifest["commit"]) == 40 and manifest["metrics"] and manifest["pictures"], folder
        page = (site / "models" / manifest["model"] / "index.html").read_text()
        parsed = _Dom()
        parsed.feed(page)
        for picture in manifest["pictures"]:
            src = f"../../pictures/{folder}/{picture}"
            assert src in parsed.images, f"models/{manifest['model']}: {src} is not shown"
            assert (site / "pictures" / folder / picture).stat().st_size > 1000, f"{folder}/{picture} is empty"
        assert manifest["command"] in page and manifest["date"] in page, f"{folder}: caption lacks command or date"
        assert "No pictures committed yet" not in page, folder
    for name in set(MODELS) - pictured:
        page = (site / "models" / name / "index.html").read_text()
        assert "No pictures committed yet" in page and "/pictures/" not in page, name
    sizes = [os.path.getsize(path) for path in glob.glob(f"{ROOT}/docs/pictures/**/*", recursive=True)]
    assert sum(sizes) < 8_000_000, f"docs/pictures/ holds {sum(sizes):,} bytes; keep it under 8 MB"


def test_a_model_without_pictures_says_so():
    sys.path.insert(0, os.path.join(ROOT, "docs", "scripts"))
    try:
        import site_models
    finally:
        sys.path.pop(0)
    assert "No pictures committed yet" in site_models.pictures("a_model_with_no_run")
    shown = site_models.pictures("unet")
    assert "No pictures committed yet" not in shown and "](../pictures/unet-nuclei/predictions.png)" in shown


def test_no_page_fetches_anything_at_view_time(site):
    external = re.compile(
        r"<(?:script|img|iframe)[^>]*\ssrc=\"(https?:)?//|<link[^>]*rel=\"stylesheet\"[^>]*href=\"(https?:)?//"
    )
    for path in glob.glob(str(site / "**" / "*.html"), recursive=True):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        assert not external.search(text), f"{path} loads {external.search(text).group(0)}"
        assert "cdnjs" not in text and "fonts.googleapis" not in text, path


class _Dom(html.parser.HTMLParser):
    """Visible text (outside script, style, pre, code) and every <img src> of a dumped DOM."""

    HIDDEN = {"script", "style", "pre", "code", "textarea"}

    def __init__(self):
        super().__init__()
        self.depth, self.text, self.images = 0, [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.text.append(data)


def _chromium(*args):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"]
    done = subprocess.run(command + ["--virtual-time-budget=20000", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the site quietly and notes every request it could not answer (a missing script, font, image)."""

    failed = []

    def log_request(self, code="-", size="-"):
        if str(code)[:1] in "45":
            self.failed.append(f"{code} {self.path}")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Handler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install -y chromium)")
@pytest.mark.parametrize("page", ["", "ops/conv/", "notebook"])
def test_page_renders_formulas_and_images_in_chromium(site, server, page):
    page = _notebook_page() if page == "notebook" else page
    _Handler.failed.clear()
    dom = _chromium("--dump-dom", server + page)
    assert not _Handler.failed, f"{page}: the browser asked for files the site lacks: {_Handler.failed}"
    parsed = _Dom()
    parsed.feed(dom)
    text = "".join(parsed.text)
    formulas = dom.count('<script type="math/tex')  # MathJax keeps each formula's TeX beside its output
    typeset = len(re.findall(r'<span class="MathJax[^"]*" id="MathJax-Element-\d+-Frame"', dom))
    assert formulas >= 1 and typeset == formulas, f"{page}: {typeset} of {formulas} formulas typeset by MathJax"
    assert 'class="merror"' not in dom and "Math Processing Error" not in dom, f"{page}: MathJax reported an error"
    for raw in ("$$", "\\(", "\\["):
        assert raw not in text, f"{page}: raw {raw} left in the rendered text"
    for src in parsed.images:
        assert not src.startswith(("http:", "https:", "//")) or src.startswith(server), f"{page}: remote image {src}"
        local = src[len(server) :] if src.startswith(server) else os.path.normpath(os.path.join(page, src))
        assert src.startswith("data:") or (site / local.split("?")[0]).exists(), f"{page}: missing image {src}"
    folder = os.path.join(os.environ.get("TGM_ARTEFACTS", os.path.join(ROOT, "build", "ci-artefacts")), "screenshots")
    os.makedirs(folder, exist_ok=True)
    shot = os.path.join(folder, (page.strip("/").replace("/", "-") or "home") + ".png")
    _chromium(f"--screenshot={shot}", "--window-size=1280,1600", server + page)
    assert os.path.getsize(shot) > 10_000, f"{shot} looks empty"
    print(f"\nscreenshot: {shot}")
