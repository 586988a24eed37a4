"""The documentation site (mkdocs.yml): ``mkdocs build --strict`` passes (broken links, missing pages and docstring
problems are errors) and renders the API reference, the gallery and the repository files the pages link to; every
``python`` cell of the tutorials in docs/tutorials/ runs as written (docs/python_api.md: tests/test_python_api.py)."""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.md"))


def doc_cells(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def nav_pages(nav) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in nav_pages(v)]
    return [p for item in nav for p in nav_pages(item)]


def site_hook():
    spec = importlib.util.spec_from_file_location("site_hook", ROOT / "docs" / "hooks" / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def text(page: Path) -> str:
    body = page.read_text()
    body = body[body.find("<article") : body.find("</article>")]
    return html.unescape(re.sub(r"<[^>]+>", "", body))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs extra (mkdocs, mkdocs-material, mkdocstrings[python])")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = tmp_path_factory.mktemp("docs")
    figures = root / "figures"
    figures.mkdir()
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(figures / "training_curves.png")
    plt.close(fig)
    env = {**os.environ, "SPECSOLVE_GALLERY": str(figures), "NO_MKDOCS_2_WARNING": "1"}
    out = root / "site"
    run = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.mark.integration
def test_site_builds_strict_with_every_nav_page(site: Path) -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = nav_pages(config["nav"])
    assert len(pages) >= 20 and "config_reference.md" in pages and "model_zoo.md" in pages
    for page in pages:
        assert (site / page.replace(".md", ".html")).is_file(), page
    assert (site / "search" / "search_index.json").stat().st_size > 10_000


@pytest.mark.integration
def test_api_reference_is_rendered_from_docstrings(site: Path) -> None:
    api = text(site / "reference" / "api.html")
    for name in ("load_pretrained", "push_pretrained", "train", "evaluate"):
        assert re.search(rf"\b{name}\(", api), name
    assert "read through huggingface_hub's cache" in api  # load_pretrained's docstring
    models = text(site / "reference" / "models.html")
    assert "poseidon_checkpoint" in models and "spectral" in models.lower()
    for page in sorted((site / "reference").glob("*.html")):
        body = text(page)
        assert len(body) > 5000, page.name
        assert not re.search(r":(class|func|mod|meth|data|attr|exc):", body), page.name  # reST roles converted


@pytest.mark.integration
def test_gallery_and_repository_links(site: Path) -> None:
    gallery = (site / "gallery.html").read_text()
    assert 'src="gallery/training_curves.png"' in gallery and "Training and validation loss" in gallery
    assert (site / "gallery" / "training_curves.png").stat().st_size > 1000
    zoo = (site / "model_zoo.html").read_text()
    assert 'href="repo/configs/fno_darcy_s85.yaml"' in zoo
    copied = site / "repo" / "configs" / "fno_darcy_s85.yaml"
    assert copied.read_bytes() == (ROOT / "configs" / "fno_darcy_s85.yaml").read_bytes()


def test_gallery_page_without_figures_says_how_to_make_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = site_hook()
    config = {"config_file_path": str(ROOT / "mkdocs.yml"), "extra": {}, "docs_dir": str(ROOT / "docs")}
    monkeypatch.setenv("SPECSOLVE_GALLERY", str(tmp_path))
    assert "Run `make demo`" in hook.gallery_markdown(config)
    (tmp_path / "error_vs_resolution.png").write_bytes(b"png")
    (tmp_path / "zz_new.png").write_bytes(b"png")
    assert hook.gallery_markdown(config) == (
        "![error_vs_resolution](gallery/error_vs_resolution.png)\n\n"
        "*Test error against resolution (`specsolve evaluate --strides 1,2`).*\n\n"
        "![zz_new](gallery/zz_new.png)\n\n*zz_new*\n"
    )
    assert hook.repo_target(config, "model_zoo.md", "../configs/ns2d_fno.yaml") == ROOT / "configs" / "ns2d_fno.yaml"
    assert hook.repo_target(config, "model_zoo.md", "results/smoke.txt") is None  # inside docs/: mkdocs' own
    assert hook.repo_target(config, "model_zoo.md", "../configs/missing.yaml") is None


def test_every_tutorial_in_the_nav_is_executed() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    tutorials = next(item["Tutorials"] for item in config["nav"] if isinstance(item, dict) and "Tutorials" in item)
    for page in nav_pages(tutorials):
        assert page == "python_api.md" or (ROOT / "docs" / page) in TUTORIALS, page
        assert doc_cells(ROOT / "docs" / page), page
    assert TUTORIALS


@pytest.mark.integration
@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_cells_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells run in order in one namespace from a scratch copy of the repository root's datasets/; the Hugging
    Face cache is an empty folder and offline, so nothing is downloaded."""
    shutil.copytree(ROOT / "datasets", tmp_path / "datasets")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in doc_cells(page):
            exec(compile(cell, str(page.relative_to(ROOT)), "exec"), namespace)
    if page.name == "pretrained.md":
        out = printed.getvalue()
        assert "bitwise equal: True" in out
        assert "is not in the Hugging Face cache" in out and "`hf download my-org/not-downloaded-yet`" in out
        assert "| u | rel_l2 |" in out  # the model card's metrics table
        assert namespace["moved"] and all(k.startswith("project_out.") for k in namespace["moved"])
