"""mkdocs hook (mkdocs.yml ``hooks:``): files the site needs that are not committed under docs/.

- The gallery: the PNG figures of ``make demo`` (``extra.gallery`` in mkdocs.yml, default ``runs/demo/figures``;
  the ``SPECSOLVE_GALLERY`` environment variable overrides it) are added as ``gallery/<name>.png`` and drawn where
  docs/gallery.md says ``<!-- gallery -->``; without them the page says how to make them.
- Links from a page to a repository file outside docs/ (``../configs/x.yaml``, ``../benchmarks/y.py``) point to a
  copy of that file in the site under ``repo/``, so they resolve and the strict build checks them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mkdocs.structure.files import File

LINK = re.compile(r"(\]\()([^)\s#]+)([^)]*\))")
MARKER = "<!-- gallery -->"
CAPTIONS = {
    "training_curves": "Training and validation loss per epoch (`specsolve train`).",
    "test_samples": "Truth, prediction and error of test samples (`specsolve evaluate --plot`).",
    "test_samples_spectrum": "Energy spectra of truth and prediction on the test set.",
    "fine_samples": "Zero-shot on the 2x finer grid: truth, prediction, error.",
    "fine_samples_spectrum": "Energy spectra on the 2x finer grid.",
    "error_vs_resolution": "Test error against resolution (`specsolve evaluate --strides 1,2`).",
}


def _root(config) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def gallery_figures(config) -> list[Path]:
    source = os.environ.get("SPECSOLVE_GALLERY") or config["extra"].get("gallery", "runs/demo/figures")
    folder = Path(source) if Path(source).is_absolute() else _root(config) / source
    return sorted(folder.glob("*.png")) if folder.is_dir() else []


def source_dir(config, page_uri: str) -> Path:
    """Where the source of page ``page_uri`` lives: under docs/, or in the repository for a copied ``repo/`` page."""
    if page_uri.startswith("repo/"):
        return _root(config) / Path(page_uri[len("repo/") :]).parent
    return Path(config["docs_dir"]).resolve() / Path(page_uri).parent


def repo_target(config, page_uri: str, link: str) -> Path | None:
    """The repository file outside docs/ that a relative link of page ``page_uri`` names, if it exists."""
    if "://" in link or link.startswith(("/", "mailto:")):
        return None
    docs, root = Path(config["docs_dir"]).resolve(), _root(config)
    target = (source_dir(config, page_uri) / link).resolve()
    if target.is_file() and root in target.parents and docs not in target.parents:
        return target
    return None


def on_files(files, config):
    from mkdocs.structure.files import InclusionLevel

    for png in gallery_figures(config):
        files.append(File.generated(config, f"gallery/{png.name}", abs_src_path=str(png)))
    root, seen = _root(config), set()
    pages = [f for f in files if f.src_uri.endswith(".md") and f.abs_src_path]
    while pages:  # copied markdown files are pages whose own links are followed too
        page = pages.pop()
        for _, link, _ in LINK.findall(Path(page.abs_src_path).read_text()):
            target = repo_target(config, page.src_uri, link)
            if target is None or target in seen:
                continue
            seen.add(target)
            uri = f"repo/{target.relative_to(root).as_posix()}"
            copy = File.generated(config, uri, abs_src_path=str(target), inclusion=InclusionLevel.NOT_IN_NAV)
            files.append(copy)
            if uri.endswith(".md"):
                pages.append(copy)
    return files


def gallery_markdown(config) -> str:
    figures = gallery_figures(config)
    if not figures:
        return '!!! note "No figures yet"\n    Run `make demo`, then `make docs`: the figures of `runs/demo/figures/` appear here.\n'
    return "\n".join(f"![{png.stem}](gallery/{png.name})\n\n*{CAPTIONS.get(png.stem, png.stem)}*\n" for png in figures)


def on_page_markdown(markdown, page, config, files):
    docs, root = Path(config["docs_dir"]).resolve(), _root(config)

    def relink(m: re.Match) -> str:
        link = m.group(2)
        target = repo_target(config, page.file.src_uri, link)
        if target is None and page.file.src_uri.startswith("repo/") and "://" not in link:
            inside = (source_dir(config, page.file.src_uri) / link).resolve()  # a copied page's link back into docs/
            target = inside if docs in inside.parents and inside.exists() else None
        if target is None:
            return m.group(0)
        site = target if docs in target.parents else docs / "repo" / target.relative_to(root)
        here = docs / Path(page.file.src_uri).parent
        return m.group(1) + os.path.relpath(site, here).replace(os.sep, "/") + m.group(3)

    markdown = LINK.sub(relink, markdown)
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, gallery_markdown(config))
    return markdown
