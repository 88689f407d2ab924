"""The report page opened in a real browser (headless Chromium): no broken image, no console
or script error, every table there, no sideways scrolling; a screenshot is kept.

Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test skips,
saying why, except where BENCH_REQUIRE_BROWSER=1 (CI), where its absence is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from bench.cli import main

WIDTH = 1280

# Put first in <head> of a copy of the page: records every failed resource, script error and
# console.error, then on load writes what it saw into <pre id="audit">.
AUDIT = """<script>
window.__seen = [];
window.addEventListener('error', function (e) {
  var t = e.target || {};
  __seen.push(t.src || t.href ? 'failed to load: ' + (t.getAttribute('src') || t.getAttribute('href'))
                              : 'script error: ' + e.message);
}, true);
var __ce = console.error;
console.error = function () { __seen.push('console.error: ' + Array.from(arguments).join(' ')); __ce.apply(console, arguments); };
window.addEventListener('load', function () {
  var imgs = Array.from(document.images);
  var out = {seen: __seen, images: imgs.length,
    broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                .map(function (i) { return i.getAttribute('src'); }),
    small: imgs.filter(function (i) { return i.getAttribute('src').indexOf('grids/') === 0 && i.width < 2 * i.naturalWidth && i.naturalWidth < 280; })
               .map(function (i) { return i.getAttribute('src'); }),
    tables: Array.from(document.querySelectorAll('table')).map(function (t) { return t.id; }),
    untitled: Array.from(document.querySelectorAll('#table1-table th, #quality-table th, #codes-table th, #convergence-table th'))
                .filter(function (th) { return !th.title; }).map(function (th) { return th.textContent; }),
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    firstHeading: document.querySelector('h2').id};
  var pre = document.createElement('pre'); pre.id = 'audit'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("BENCH_REQUIRE_BROWSER") == "1":
        pytest.fail("BENCH_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")


def _browse(page: Path, *args: str, height: int = 1000) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size={WIDTH},{height}", "--allow-file-access-from-files",
           "--virtual-time-budget=10000", *args, page.absolute().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(page.parent)})


def audit(index: Path) -> dict:
    """Open a copy of the page (same folder, so its links resolve) and return what it saw."""
    page = index.with_name("_audit.html")
    html = index.read_text()
    page.write_text(html.replace("<head>", "<head>" + AUDIT, 1))
    try:
        r = _browse(page, "--dump-dom")
    finally:
        page.unlink()
    found = re.search(r'<pre id="audit">(.*?)</pre>', r.stdout, re.S)
    assert found, f"no audit in chromium's output: {r.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.fixture(scope="module")
def report(tmp_path_factory, standin_fid_weights) -> Path:
    """A report with every kind of content: PCA and GLO runs on the 100 real LFW faces, with
    sample-quality numbers (stand-in Inception weights)."""
    root = tmp_path_factory.mktemp("browser")
    for model, extra in (("pca", []), ("glo-mse-pca", ["--epochs", "2"])):
        r = CliRunner().invoke(main, ["run", "--dataset", "lfw25", "--model", model, "--out",
                                      str(root / "runs"), "--cache-dir", str(root / "c"),
                                      "--quiet", "--fid-n", "12", "--fid-weights",
                                      str(standin_fid_weights), *extra])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["report", "--runs", str(root / "runs"), "--out",
                                  str(root / "reports"), "--dataset", "lfw25"])
    assert r.exit_code == 0, r.output
    return root / "reports" / "lfw25" / "index.html"


def test_report_page_in_a_real_browser(report, tmp_path):
    seen = audit(report)
    assert seen["seen"] == [], seen["seen"]
    assert seen["broken"] == [] and seen["images"] >= 10
    assert {"claims-table", "table1-table", "quality-table", "codes-table",
            "convergence-table", "settings-table"} <= set(seen["tables"])
    assert seen["firstHeading"] == "claims"  # the claims summary comes first
    assert seen["untitled"] == []  # every column of these tables has a tooltip
    assert seen["small"] == []  # 32 px grids are scaled up
    assert seen["scrollWidth"] <= seen["innerWidth"], "the page scrolls sideways"

    shot = Path(os.environ.get("BENCH_SCREENSHOT_DIR", tmp_path)) / "report-lfw25.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    _browse(report, f"--screenshot={shot}", height=4000)  # the whole page
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape[1] == WIDTH and img.std() > 10  # a page was drawn, not a blank one


def test_the_audit_catches_a_broken_image_and_a_console_error(report):
    """The browser check can fail: a renamed grid and a page script's console.error are seen."""
    folder = report.parent
    grid = next((folder / "grids").glob("pca_samples.png"))
    moved = grid.with_suffix(".moved")
    grid.rename(moved)
    broken = folder / "broken.html"
    broken.write_text(report.read_text().replace(
        "</body>", "<script>console.error('planted');</script></body>"))
    try:
        seen = audit(broken)
    finally:
        moved.rename(grid)
        broken.unlink()
    assert "grids/pca_samples.png" in seen["broken"]
    assert any("failed to load: grids/pca_samples.png" in s for s in seen["seen"])
    assert any("console.error: planted" in s for s in seen["seen"])
