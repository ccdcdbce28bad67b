"""The documentation site: ``mkdocs build --strict`` passes (so a broken link or docstring reference
fails CI), and docs/hooks.py resolves links the way the README and the results pages need."""
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP = "the docs extra is not installed (pip install -e '.[docs]'): mkdocs and mkdocstrings[python] are needed"


def require_docs_tools():
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "griffe"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(SKIP)


@pytest.fixture(scope="module")
def hooks():
    require_docs_tools()
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_builds_in_strict_mode(tmp_path):
    require_docs_tools()
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    home = (site / "index.html").read_text(encoding="utf-8")
    title = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[0].lstrip("# ").split(" — ")[0]
    assert title in home and 'href="results/tem/"' in home  # the README, its links into docs/ resolved
    assert (site / "benchmarks" / "index.html").exists() and not (site / "hooks.py").exists()
    for page in ("tem", "training", "envs", "analysis"):
        assert (site / "api" / page / "index.html").exists()
    envs_page = (site / "api" / "envs" / "index.html").read_text(encoding="utf-8")
    assert 'id="envs.vector.GridVectorEnv"' in envs_page and ":class:" not in envs_page


def test_links_resolve_against_the_file_they_are_written_in(hooks):
    readme = hooks.rewrite_links("[a](docs/results/tem.md#speed) [b](benchmarks/README.md) [c](#python-api)",
                                 "index.md", "README.md")
    assert readme == "[a](results/tem.md#speed) [b](benchmarks.md) [c](#python-api)"
    links = "[t](temt.md) [b](../../benchmarks/README.md) [r](../../README.md) [u](https://x.org/a.md)"
    page = hooks.rewrite_links(links, "results/sdm.md", "docs/results/sdm.md")
    assert page == "[t](temt.md) [b](../benchmarks.md) [r](../index.md) [u](https://x.org/a.md)"
    reference = hooks.rewrite_links("[b]: ../../benchmarks/README.md", "results/sdm.md", "docs/results/sdm.md")
    assert reference == "[b]: ../benchmarks.md"
    fenced = "```\n[not](a/link.md)\n```"
    assert hooks.rewrite_links(fenced, "index.md", "README.md") == fenced


def test_links_to_repository_files_become_paths_or_repo_urls(hooks):
    assert hooks.rewrite_links("run [train.py](train.py)", "index.md", "README.md") == "run `train.py`"
    assert hooks.rewrite_links("[the suite](../../benchmarks/suite.py)", "results/tem.md", "docs/results/tem.md") == \
        "the suite (`benchmarks/suite.py`)"
    folder = hooks.rewrite_links("[`examples/worlds/`](examples/worlds/)", "index.md", "README.md")
    assert folder == "`examples/worlds/`"
    linked = hooks.rewrite_links("[the suite](../../benchmarks/suite.py)", "results/tem.md", "docs/results/tem.md",
                                 repo_url="https://github.com/o/r/")
    assert linked == "[the suite](https://github.com/o/r/blob/HEAD/benchmarks/suite.py)"


def test_a_link_to_nothing_is_a_warning_so_strict_builds_fail(hooks, caplog):
    with caplog.at_level(logging.WARNING, logger="mkdocs.hooks.tem"):
        out = hooks.rewrite_links("[gone](../../benchmarks/nothing.md) [up](../../../x.md)", "results/tem.md",
                                  "docs/results/tem.md")
    assert out == "[gone](../../benchmarks/nothing.md) [up](../../../x.md)"
    assert len(caplog.records) == 2 and "not in the repository" in caplog.records[0].getMessage()


def test_docstring_roles_become_code_and_brackets_stay_text(hooks):
    role = hooks.RstRoles.ROLE
    assert role.sub(lambda m: m[2], ":class:`~envs.world.World`") == "envs.world.World"

    class Doc:
        value = "A :class:`~envs.world.World`, :func:`envs.make_worlds`; KIND[+stay][:SIZES] and ``x[a][b]``."

    class Obj:
        docstring = Doc()

    hooks.RstRoles().on_instance(obj=Obj())
    assert Obj.docstring.value == "A `World`, `envs.make_worlds`; KIND[+stay]\\[:SIZES] and ``x[a][b]``."
