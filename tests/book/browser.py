"""Open pages of the built book in headless Chromium, offline, and say what a reader would see broken.

The browser is Debian's ``chromium`` driven by the ``playwright`` package (no browser download:
``executable_path`` points at the system binary). Every request whose URL is not ``file:``,
``data:``, ``blob:`` or ``about:`` is aborted and recorded, so a page that needs the network shows up
as a problem instead of quietly fetching it. For each page :func:`check_page` reports

* requests outside the build directory that the page made (all aborted);
* images that did not load (``naturalWidth == 0``);
* math that MathJax did not typeset: a ``.math`` element without a ``mjx-container``, TeX errors
  (``mjx-merror``), and raw ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` left in the text outside code;
* console errors and uncaught page errors.

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

__all__ = ["CHROMIUM_ARGS", "KNOWN_HARMLESS", "LOCAL_SCHEMES", "PageReport", "find_chromium", "launch", "check_page",
           "book_pages", "redirect_target"]

#: Flags for a quiet, offline, sandbox-free headless Chromium (CI runs as root).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
#: URL schemes a page may load; anything else (http, https, ws, ...) is aborted and reported.
LOCAL_SCHEMES: tuple[str, ...] = ("file:", "data:", "blob:", "about:")
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
    """

    page: str
    url: str = ""
    problems: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    math_elements: int = 0
    images: int = 0
    ignored: list[str] = field(default_factory=list)
    seconds: float = 0.0

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


def check_page(browser: Any, path: Path, *, timeout_s: float = 30.0, html_dir: Path | None = None) -> PageReport:
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

    Returns
    -------
    PageReport
        ``problems`` is empty when every image loaded, every formula was typeset without TeX error,
        no raw TeX is left in the text, the console had no error, no script raised, and the page
        requested nothing outside ``file:`` (and ``data:``, ``blob:``, ``about:``).
    """
    path = Path(path).resolve()
    name = str(path.relative_to(Path(html_dir).resolve())) if html_dir is not None else str(path)
    report = PageReport(page=name)
    start = time.perf_counter()
    timeout_ms = timeout_s * 1000.0
    console: list[str] = []
    page_errors: list[str] = []
    failed: list[str] = []
    context = browser.new_context(service_workers="block", java_script_enabled=True)
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
