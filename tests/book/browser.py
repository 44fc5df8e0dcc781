"""Open pages of the built book in headless Chromium, offline, and say what a reader would see broken.

The browser is Debian's ``chromium`` driven by the ``playwright`` package (no browser download:
``executable_path`` points at the system binary). Every request whose URL is not ``file:``,
``data:``, ``blob:`` or ``about:`` is aborted and recorded, so a page that needs the network shows up
as a problem instead of quietly fetching it. For each page :func:`check_page` reports

* requests outside the build directory that the page made (all aborted);
* images that did not load (``naturalWidth == 0``);
* math that MathJax did not typeset: a ``.math`` element without a ``mjx-container``, TeX errors
  (``mjx-merror``), and raw ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` left in the text outside code;
* console errors and uncaught page errors;
* and, in ``layout_problems``, what does not fit the content column (``article.bd-article`` of
  sphinx-book-theme, else ``main``, else ``body``) at a :data:`VIEWPORT` of 1280 x 800: every box or
  line of text whose right edge is beyond the column, unless a box between it and the column scrolls
  or clips sideways (a table in its own scrolling box is fine, the box itself must fit), a page that
  scrolls sideways, and, when ``min_image_scale`` is given, every image shown at less than that
  fraction of its natural width (a figure drawn for a wider page has its text shrunk). ``<details>``
  are opened first, as a reader would.

Usage::

    with launch() as browser:
        report = check_page(browser, Path("book/_build/html/methods.html"))
        print(report.problems or "ok")
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "COLUMN_SELECTORS", "KNOWN_HARMLESS", "LOCAL_SCHEMES", "PageReport", "VIEWPORT",
           "find_chromium", "launch", "check_page", "book_pages", "redirect_target"]

#: Flags for a quiet, offline, sandbox-free headless Chromium (CI runs as root).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
#: URL schemes a page may load; anything else (http, https, ws, ...) is aborted and reported.
LOCAL_SCHEMES: tuple[str, ...] = ("file:", "data:", "blob:", "about:")
#: Window size pages are opened at (CSS pixels, device pixel ratio 1): a laptop's, at which the book's
#: content column is about 690 px wide.
VIEWPORT: dict[str, int] = {"width": 1280, "height": 800}
#: The content column: the first of these that the page has.
COLUMN_SELECTORS: tuple[str, ...] = ("article.bd-article", "main", "body")
#: Elements meant to stand outside the column (sphinx-book-theme's margin notes and full-width content).
_OUTSIDE_ON_PURPOSE = ".margin, aside.sidebar, .full-width, .tag_full-width"
#: Slack for sub-pixel rounding, in CSS pixels.
_TOLERANCE_PX = 1.0
#: Most layout problems listed per page (the rest are counted).
_MAX_LISTED = 12
#: Page errors that are known, harmless and not ours, with the reason: reported in
#: ``PageReport.ignored``, not as problems. Matched exactly.
KNOWN_HARMLESS: dict[str, str] = {
    "Identifier 'THEBE_JS_URL' has already been declared":
        "sphinx-thebe (added by jupyter-book 1) registers its inline config script with filename None; "
        "Sphinx 7.4 re-adds it as '' and so writes it twice; the second copy only re-declares the "
        "same constants, and thebe is not used by this book",
}
#: Places where Debian's package and other distributions put the browser.
_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "chromium", "chromium-browser")

# Math elements sphinx writes (span.math / div.math) that MathJax 3 (mjx-container) or MathJax 2
# (.MathJax, .MathJax_Display, .MathJax_SVG) did not replace by typeset output.
_UNTYPESET_JS = """
() => [...document.querySelectorAll('.math')]
    .filter(e => !e.querySelector('mjx-container, .MathJax, .MathJax_Display, .MathJax_SVG'))
    .map(e => e.textContent.trim().slice(0, 80))
"""
_TEX_ERRORS_JS = """
() => [...document.querySelectorAll('mjx-merror, .MathJax_Error')]
    .map(e => e.getAttribute('data-mjx-error') || e.getAttribute('title') || e.textContent.trim().slice(0, 80))
"""
# Text outside code, scripts and math that still looks like TeX delimiters.
_RAW_TEX_JS = r"""
() => {
  const skip = 'pre, code, script, style, textarea, .math, mjx-container, .MathJax, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  const pattern = /\$\$[^$]+\$\$|\$[^\s$][^$\n]*?[^\s$\\]\$|\$[^\s$]\$|\\\(|\\\[/;
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || el.closest(skip)) continue;
    const m = node.textContent.match(pattern);
    if (m) found.push(node.textContent.trim().slice(0, 80));
  }
  return found;
}
"""
# Make lazy images load now, then wait (bounded) for every image to finish or fail.
_BROKEN_IMAGES_JS = """
async (timeoutMs) => {
  const imgs = [...document.images];
  for (const img of imgs) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all(imgs.map(img => img.complete ? null : new Promise(done => {
    img.addEventListener('load', done); img.addEventListener('error', done);
    setTimeout(done, timeoutMs);
  })));
  return imgs.filter(img => !img.complete || img.naturalWidth === 0)
             .map(img => img.currentSrc || img.src || img.outerHTML.slice(0, 120));
}
"""
# Opens every <details>, then measures the column, every image in it, and every box or line of text in it
# whose right edge is beyond the column and is not inside a box that scrolls or clips sideways (only the
# outermost of nested offenders is listed).
_LAYOUT_JS = r"""
async ({selectors, outsideOnPurpose, tolerance}) => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  await new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  let col = null;
  for (const sel of selectors) { col = document.querySelector(sel); if (col) break; }
  const cs = getComputedStyle(col);
  const box = col.getBoundingClientRect();
  const right = box.right - parseFloat(cs.paddingRight) - parseFloat(cs.borderRightWidth);
  const left = box.left + parseFloat(cs.paddingLeft) + parseFloat(cs.borderLeftWidth);
  const memo = new Map();
  const insideClip = (a) => {  // a, or an element between a and the column, scrolls or clips sideways
    if (!a || a === col) return false;
    if (memo.has(a)) return memo.get(a);
    const v = getComputedStyle(a).overflowX !== 'visible' || insideClip(a.parentElement);
    memo.set(a, v);
    return v;
  };
  const describe = (el) => {
    let d = el.tagName.toLowerCase();
    if (el.id) d += '#' + el.id;
    const cls = [...el.classList].slice(0, 3);
    if (cls.length) d += '.' + cls.join('.');
    const text = (el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 60);
    return text ? `${d} "${text}"` : d;
  };
  const flagged = new Set();
  const underFlagged = (el) => {
    for (let a = el; a && a !== col; a = a.parentElement) if (flagged.has(a)) return true;
    return false;
  };
  const overflow = [];
  for (const el of col.querySelectorAll('*')) {
    if (insideClip(el.parentElement) || el.closest(outsideOnPurpose) || underFlagged(el)) continue;
    const st = getComputedStyle(el);
    if (st.position === 'fixed' || st.display === 'none' || st.visibility === 'hidden') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > right + tolerance) {
      flagged.add(el);
      overflow.push({what: describe(el), kind: 'box', over: r.right - right, width: r.width});
    }
  }
  const walker = document.createTreeWalker(col, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let node;
  while ((node = walker.nextNode())) {
    const el = node.parentElement;
    if (!el || !node.textContent.trim() || insideClip(el) || el.closest(outsideOnPurpose) || underFlagged(el)) continue;
    if (getComputedStyle(el).visibility === 'hidden') continue;  // e.g. a figure's permalink until hovered
    range.selectNodeContents(node);
    let far = -Infinity;
    for (const r of range.getClientRects()) if (r.width > 0) far = Math.max(far, r.right);
    if (far > right + tolerance) {
      flagged.add(el);
      overflow.push({what: describe(el), kind: 'text', over: far - right, width: far - left});
    }
  }
  const scrolling = [];
  for (const el of col.querySelectorAll('*')) {
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && el.scrollWidth > el.clientWidth + tolerance && el.clientWidth > 0)
      scrolling.push(`${describe(el)} (${el.scrollWidth} px in ${el.clientWidth} px)`);
  }
  const images = [...col.querySelectorAll('img')].filter(img => !img.closest(outsideOnPurpose)).map(img => ({
    src: (img.currentSrc || img.src || '').split('/').pop().slice(0, 80),
    natural: img.naturalWidth, shown: img.getBoundingClientRect().width}));
  const doc = document.documentElement;
  return {column: right - left, images, overflow, scrolling, pageOverflow: doc.scrollWidth - doc.clientWidth};
}
"""
_REDIRECT = re.compile(r'<meta\s+http-equiv=["\']refresh["\']\s+content=["\']\s*\d+\s*;\s*url=([^"\']+)["\']',
                       re.IGNORECASE)
# Resolves when MathJax 3 has finished its first typesetting pass ('done'), or 'timeout'; null when
# MathJax 3 is absent (MathJax 2 has no promise to wait for).
_MATHJAX_DONE_JS = """
async (timeoutMs) => {
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return null;
  return await Promise.race([MathJax.startup.promise.then(() => 'done'),
                             new Promise(done => setTimeout(() => done('timeout'), timeoutMs))]);
}
"""


@dataclass
class PageReport:
    """What :func:`check_page` found on one page.

    Attributes
    ----------
    page : str
        The page's file name relative to the book's HTML directory when known, else its path.
    problems : list of str
        One line per problem; empty when the page rendered cleanly.
    external_requests : list of str
        URLs outside ``file:`` (and ``data:``, ``blob:``, ``about:``) the page asked for, all aborted.
    math_elements : int
        Number of ``.math`` elements on the page (0 means MathJax had nothing to do).
    images : int
        Number of ``<img>`` elements on the page.
    ignored : list of str
        Messages matched by :data:`KNOWN_HARMLESS`, with the reason they are not problems.
    url : str
        The URL finally shown (differs from the page's own for a redirect such as ``index.html``).
    seconds : float
        Wall time of the check, page load included.
    layout_problems : list of str
        One line per thing that does not fit the content column (see the module's description);
        empty when everything fits. Kept apart from ``problems``: ``ok`` is about rendering only.
    column_width : float
        Width of the content column in CSS pixels (0 when the layout was not checked).
    image_scales : list of (str, float)
        Each image in the column (file name) and its shown width over its natural width.
    scrolling : list of str
        Boxes in the column that scroll sideways because their content is wider (allowed, so not
        problems: a wide table in its own box), each with its content's and its own width.
    """

    page: str
    url: str = ""
    problems: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    math_elements: int = 0
    images: int = 0
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0
    layout_problems: list[str] = field(default_factory=list)
    column_width: float = 0.0
    image_scales: list[tuple[str, float]] = field(default_factory=list)
    scrolling: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def find_chromium() -> str | None:
    """Path of the Chromium executable: ``$CHROMIUM`` if set, else ``/usr/bin/chromium`` or on PATH."""
    env = os.environ.get("CHROMIUM", "").strip()
    candidates = (env,) if env else _CANDIDATES
    for name in candidates:
        path = name if os.path.isabs(name) else shutil.which(name)
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


@contextlib.contextmanager
def launch(executable: str | None = None) -> Iterator[Any]:
    """Start headless Chromium through playwright; yield the ``playwright`` ``Browser``.

    Parameters
    ----------
    executable : str, optional
        The browser binary; default :func:`find_chromium`.

    Raises
    ------
    FileNotFoundError
        When no Chromium executable is found.
    """
    from playwright.sync_api import sync_playwright

    executable = executable or find_chromium()
    if executable is None:
        raise FileNotFoundError("no chromium executable (looked for $CHROMIUM, " + ", ".join(_CANDIDATES) + ")")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


def book_pages(html_dir: Path) -> list[Path]:
    """The book's content pages in ``html_dir``: every ``*.html`` except sphinx's search and index pages."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(p for p in Path(html_dir).glob("*.html") if p.name not in skip)


def redirect_target(path: Path) -> Path | None:
    """The file a ``<meta http-equiv="refresh">`` page (jupyter-book's ``index.html``) leads to, else None."""
    match = _REDIRECT.search(Path(path).read_text(encoding="utf-8", errors="replace")[:4096])
    if match is None:
        return None
    return (Path(path).parent / match.group(1).strip().split("#")[0]).resolve()


def check_page(browser: Any, path: Path, *, timeout_s: float = 30.0, html_dir: Path | None = None,
               layout: bool = True, min_image_scale: float | None = None) -> PageReport:
    """Open ``path`` from ``file://`` offline and list what did not render.

    Parameters
    ----------
    browser : playwright.sync_api.Browser
        From :func:`launch`.
    path : Path
        An HTML file of the built book.
    timeout_s : float
        Limit for loading the page, for MathJax to finish, and for each image.
    html_dir : Path, optional
        The book's HTML directory, only to name the page relative to it in the report.
    layout : bool
        Also measure what does not fit the content column (``layout_problems``), after the other checks.
    min_image_scale : float, optional
        Least shown width / natural width of an image in the column (e.g. 0.69 keeps 14.5-px text at
        10 px); None checks no image's scale.

    Returns
    -------
    PageReport
        ``problems`` is empty when every image loaded, every formula was typeset without TeX error,
        no raw TeX is left in the text, the console had no error, no script raised, and the page
        requested nothing outside ``file:`` (and ``data:``, ``blob:``, ``about:``).
        ``layout_problems`` is empty when everything fits the content column.

    Raises
    ------
    ValueError
        When ``min_image_scale`` is not a number in (0, 1].
    """
    if min_image_scale is not None and not 0.0 < float(min_image_scale) <= 1.0:
        raise ValueError(f"min_image_scale must be in (0, 1]; got {min_image_scale!r}")
    path = Path(path).resolve()
    name = str(path.relative_to(Path(html_dir).resolve())) if html_dir is not None else str(path)
    report = PageReport(page=name)
    start = time.perf_counter()
    timeout_ms = timeout_s * 1000.0
    console: list[str] = []
    page_errors: list[str] = []
    failed: list[str] = []
    context = browser.new_context(service_workers="block", java_script_enabled=True, viewport=VIEWPORT,
                                  device_scale_factor=1)
    try:
        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(LOCAL_SCHEMES):
                r.continue_()
            else:
                report.external_requests.append(url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        page.on("requestfailed", lambda q: failed.append(f"{q.url} ({q.failure})")
                if q.url.startswith("file:") else None)
        target = redirect_target(path)
        if target is None:
            page.goto(path.as_uri(), wait_until="load", timeout=timeout_ms)
        else:  # follow the redirect as a browser does, then check the page it leads to
            page.goto(path.as_uri(), wait_until="commit", timeout=timeout_ms)
            page.wait_for_url(target.as_uri(), wait_until="load", timeout=timeout_ms)
        report.url = page.url

        report.math_elements = page.locator(".math").count()
        if report.math_elements:
            try:
                # MathJax's script is deferred, so after "load" it has run if it could be loaded at all:
                # a short grace period, not the whole timeout, before calling it missing.
                page.wait_for_function("() => window.MathJax && (window.MathJax.startup || window.MathJax.Hub)",
                                       timeout=min(timeout_ms, 5000.0))
                if page.evaluate(_MATHJAX_DONE_JS, timeout_ms) == "timeout":
                    report.problems.append(f"MathJax did not finish typesetting within {timeout_s:g} s")
            except Exception as err:  # playwright's TimeoutError and script errors alike
                report.problems.append(f"MathJax did not load or finish: {str(err).splitlines()[0]}")
            untypeset = page.evaluate(_UNTYPESET_JS)
            if untypeset:
                report.problems.append(f"{len(untypeset)} of {report.math_elements} math elements not typeset, "
                                       f"first: {untypeset[0]!r}")
            errors = page.evaluate(_TEX_ERRORS_JS)
            for err in dict.fromkeys(errors):
                report.problems.append(f"TeX error ({errors.count(err)}x): {err}")
        for text in page.evaluate(_RAW_TEX_JS):
            report.problems.append(f"raw TeX in the text: {text!r}")

        report.images = page.locator("img").count()
        for src in page.evaluate(_BROKEN_IMAGES_JS, timeout_ms):
            report.problems.append(f"image did not load: {src}")
        page.evaluate("() => document.fonts.ready.then(() => true)")
        if layout:
            _check_layout(page, report, min_image_scale)
    finally:
        context.close()
    for url in failed:
        report.problems.append(f"local file failed to load: {url}")
    for url in report.external_requests:
        report.problems.append(f"request outside file:// (blocked): {url}")
    for kind, texts in (("page error", page_errors), ("console error", console)):
        for text in texts:
            if text in KNOWN_HARMLESS:
                report.ignored.append(f"{kind}: {text} ({KNOWN_HARMLESS[text]})")
            else:
                report.problems.append(f"{kind}: {text}")
    report.seconds = time.perf_counter() - start
    return report


def _check_layout(page: Any, report: PageReport, min_image_scale: float | None) -> None:
    """Measure the open page (see ``_LAYOUT_JS``) and write ``report``'s layout fields."""
    found = page.evaluate(_LAYOUT_JS, {"selectors": list(COLUMN_SELECTORS), "outsideOnPurpose": _OUTSIDE_ON_PURPOSE,
                                       "tolerance": _TOLERANCE_PX})
    report.column_width = float(found["column"])
    report.scrolling = list(found["scrolling"])
    problems: list[str] = []
    if found["pageOverflow"] > _TOLERANCE_PX:
        problems.append(f"the page scrolls sideways by {found['pageOverflow']:.0f} px")
    for image in found["images"]:
        if image["natural"] <= 0 or image["shown"] <= 0:
            continue  # not loaded (reported above) or not shown
        scale = image["shown"] / image["natural"]
        report.image_scales.append((image["src"], scale))
        if min_image_scale is not None and scale < min_image_scale - 1e-9:
            problems.append(f"image shown at {scale:.2f} of its natural width ({image['shown']:.0f} of "
                            f"{image['natural']} px; at least {min_image_scale:.2f}, or its text is too small): "
                            f"{image['src']}")
    for item in found["overflow"]:
        problems.append(f"{item['kind']} {item['over']:.0f} px beyond the {report.column_width:.0f}-px content column "
                        f"({item['width']:.0f} px wide): {item['what']}")
    if len(problems) > _MAX_LISTED:
        problems = problems[:_MAX_LISTED] + [f"... and {len(problems) - _MAX_LISTED} more"]
    report.layout_problems = problems
