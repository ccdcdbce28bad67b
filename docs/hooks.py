"""MkDocs hooks and a Griffe extension for the documentation site (``mkdocs.yml`` loads both).

* The README stays the source of truth: its text becomes the home page (``index.md``) at build
  time, and ``benchmarks/README.md`` becomes ``benchmarks.md``; nothing is copied into ``docs/``.
* Every relative link, in those pages and in the pages under ``docs/``, is resolved against the
  file's own place in the repository: a link to a page of the site becomes a link to that page
  (which MkDocs then validates), a link to another file of the repository (a script, a folder)
  becomes a link to it on ``repo_url``, or its path in code when ``repo_url`` is not set, and a
  link to nothing is a warning, which fails ``mkdocs build --strict``.
* :class:`RstRoles` (a Griffe extension) shows the Sphinx roles of the docstrings
  (``:class:`~envs.world.World```) as inline code, as the docstrings mean them.
"""
from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from griffe import Extension

REPO = Path(__file__).resolve().parents[1]
DOCS_DIR = "docs"
OUTSIDE_PAGES = {"index.md": "README.md", "benchmarks.md": "benchmarks/README.md"}
"""Pages of the site whose text is a file outside ``docs/``: site path -> repository path."""

log = logging.getLogger("mkdocs.hooks.tem")
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?P<title>\s+\"[^\"]*\")?\)")
REFERENCE = re.compile(r"^(?P<head> {0,3}\[[^\]]+\]:\s*)(?P<target>\S+)(?P<tail>.*)$")
FENCE = re.compile(r"^\s*(```|~~~)")


def on_files(files, config):
    """Add the pages whose text lives outside ``docs/`` (``index.md`` is in ``docs/`` as a stub)."""
    from mkdocs.structure.files import File

    for site_path, repo_path in OUTSIDE_PAGES.items():
        if files.get_file_from_path(site_path) is None:
            files.append(File.generated(config, site_path, abs_src_path=str(REPO / repo_path)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Read the outside pages' text from the repository, then resolve every relative link."""
    site_path = page.file.src_uri
    repo_path = OUTSIDE_PAGES.get(site_path)
    if repo_path is not None:
        markdown = (REPO / repo_path).read_text(encoding="utf-8")
    else:
        repo_path = f"{DOCS_DIR}/{site_path}"
    return rewrite_links(markdown, site_path, repo_path, config.get("repo_url"))


def rewrite_links(markdown: str, site_path: str, repo_path: str, repo_url: str | None = None) -> str:
    """``markdown`` with each relative link of the page ``site_path`` (whose text is the repository
    file ``repo_path``) pointing where it points in the repository; fenced code is left alone."""
    lines, in_fence = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            line = LINK.sub(lambda m: _inline(m, site_path, repo_path, repo_url), line)
            line = REFERENCE.sub(lambda m: _reference(m, site_path, repo_path, repo_url), line)
        lines.append(line)
    return "\n".join(lines)


def _inline(match: re.Match, site_path: str, repo_path: str, repo_url: str | None) -> str:
    target, linked = _target(match["target"], site_path, repo_path, repo_url)
    if linked:
        return f"{match['bang']}[{match['text']}]({target}{match['title'] or ''})"
    bare = match["text"].strip("`")
    return f"`{bare}`" if bare.rstrip("/") == target.strip("`") else f"{match['text']} ({target})"


def _reference(match: re.Match, site_path: str, repo_path: str, repo_url: str | None) -> str:
    target, linked = _target(match["target"], site_path, repo_path, repo_url)
    if not linked:  # a reference definition cannot become plain text
        log.warning(f"{repo_path}: the reference link to {match['target']!r}, a file outside the site, needs "
                    "repo_url in mkdocs.yml; write it as an inline link")
        return match[0]
    return match["head"] + target + match["tail"]


def _target(target: str, site_path: str, repo_path: str, repo_url: str | None) -> tuple[str, bool]:
    """``(new target, still a link)`` for ``target`` as written in ``repo_path``."""
    if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I):  # a URL, an anchor, a site-absolute path
        return target, True
    path, hash_, anchor = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(repo_path), path))
    pages = {repo: site for site, repo in OUTSIDE_PAGES.items()}
    if resolved in pages or resolved.startswith(DOCS_DIR + "/"):
        site_target = pages.get(resolved) or resolved[len(DOCS_DIR) + 1:]
        relative = posixpath.relpath(site_target, posixpath.dirname(site_path) or ".")
        return relative + hash_ + anchor, True  # MkDocs validates it as any link between pages
    if resolved.startswith("..") or not (REPO / resolved).exists():
        log.warning(f"{repo_path}: the link {target!r} points to {resolved!r}, which is not in the repository")
        return target, True
    if repo_url:
        kind = "tree" if (REPO / resolved).is_dir() else "blob"
        return f"{repo_url.rstrip('/')}/{kind}/HEAD/{resolved}", True
    log.info(f"{repo_path}: {target!r} is a repository file outside the site; shown as its path")
    return f"`{resolved}`", False


class RstRoles(Extension):
    """Griffe extension: the docstrings' Sphinx roles as inline code (``:class:`~a.b.C``` -> ``C``,
    ``:func:`a.b``` -> ``a.b``), and their brackets outside code kept as text: ``KIND[+stay][:SIZES]``
    would otherwise read as a cross-reference to ``:SIZES`` (the docstrings use no reference links)."""

    ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|obj|exc|const):`(~?)([^`]+)`")
    CODE = re.compile(r"(`+)(?:.|\n)*?\1")

    def on_instance(self, *, obj, **kwargs) -> None:
        if obj.docstring is None:
            return
        text = self.ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", obj.docstring.value)
        parts, start = [], 0
        for code in self.CODE.finditer(text):
            parts += [text[start:code.start()].replace("][", "]\\["), code[0]]
            start = code.end()
        obj.docstring.value = "".join(parts) + text[start:].replace("][", "]\\[")
