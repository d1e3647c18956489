"""The repository's public address lives in ONE place, ``[project.urls] Repository`` in pyproject.toml,
and the release the course is published at in one other, ``[project] version`` (its git tag is
``v<version>``); everything that points at them is derived from them here:

- the install line of every lesson's first code cell (``lmsample @ git+<address>@v<version>``), which
  installs that release of the package where it is missing (Colab) and does nothing where it is
  installed (JupyterLab, Binder). A student on Colab in October gets what was tested in August, not
  whatever the default branch holds that day;
- the README's Binder badge (JupyterLab on the first lesson) and its "Open in Colab" badge per lesson,
  at the same tag, so the notebook a student opens and the package it installs are one release.

To publish a release: set ``version`` in pyproject.toml, run ``--write``, commit, then tag that
commit ``v<version>`` and push the tag (the links do not work until the tag exists).

    python tools/links.py            # check: exit 1 and list what disagrees with the address
    python tools/links.py --write [assignment ...]
                                     # rewrite the first cell of solutions/*/*.ipynb (or of those
                                     # assignments) and the README badges, then regenerate the
                                     # changed lessons/ with nbgrader (autograder/)

``tests/test_links.py`` runs the check. Change the address in pyproject.toml, run ``--write``,
commit. Notebooks in lessons/ are never edited: they are regenerated from solutions/.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST_LESSON = "lessons/01-greedy/greedy.ipynb"
BADGES_START, BADGES_END = "<!-- badges:start (tools/links.py) -->", "<!-- badges:end -->"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: the install line in a first cell: "lmsample @ git+URL@TAG" or "lmsample[extra] @ git+URL@TAG"
INSTALL_RE = re.compile(r'"(lmsample(?:\[[\w,]+\])?) @ git\+([^"@]+?)(?:@([\w.-]+))?"')


#: The first code cell of every lesson (the only thing that differs is the install line's extra).
FIRST_CELL = """\
# Setup. Where lmsample is missing (on Colab) this installs it; on Colab it also turns on support for
# ipywidgets 8. In JupyterLab or on Binder, where lmsample is installed, it does nothing.
import importlib, importlib.util, subprocess, sys

if importlib.util.find_spec("lmsample") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                    "{spec}"], check=True)
    importlib.invalidate_caches()  # so that the next cell's `import lmsample` finds it
if "google.colab" in sys.modules:
    from google.colab import output
    output.enable_custom_widget_manager()"""


def first_cell(extra: str = "", address: str | None = None) -> str:
    return FIRST_CELL.format(spec=install_spec(address, extra))


def repository() -> str:
    urls = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]
    return urls["Repository"].rstrip("/")


def release() -> str:
    """The git tag of the published release: ``v`` + pyproject's version."""
    return "v" + tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _github(address: str) -> tuple[str, str]:
    m = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?", address)
    if not m:
        raise ValueError(f"the Repository address must be https://github.com/<owner>/<name>, not {address!r}")
    return m.group(1), m.group(2)


def binder_url(path: str = FIRST_LESSON, address: str | None = None) -> str:
    owner, name = _github(address or repository())
    return f"https://mybinder.org/v2/gh/{owner}/{name}/{release()}?urlpath=lab/tree/{path}"


def colab_url(path: str, address: str | None = None) -> str:
    owner, name = _github(address or repository())
    return f"https://colab.research.google.com/github/{owner}/{name}/blob/{release()}/{path}"


def install_spec(address: str | None = None, extra: str = "") -> str:
    return f"lmsample{extra} @ git+{address or repository()}@{release()}"


def first_code_cell(nb: dict) -> dict:
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def _source(cell) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def notebooks(folder: str) -> list[Path]:
    return sorted((REPO / folder).glob("*/*.ipynb"))


def lesson_paths_in_readme(readme: str) -> list[str]:
    """``lessons/<id>/<notebook>`` of every row of the README's lesson table."""
    return [f"lessons/{m}" for m in re.findall(r"^\| *\d+ *\| *`([\w.-]+/[\w.-]+\.ipynb)` *\|", readme, flags=re.M)]


def readme_badges() -> str:
    return (f"{BADGES_START}\n[![Open the course on Binder]({BINDER_BADGE})]({binder_url()}) "
            f"opens JupyterLab on the first lesson, nothing to install; each lesson also opens in "
            f"Colab from the table below.\n{BADGES_END}")


def colab_badge(path: str) -> str:
    return f"[![Open in Colab]({COLAB_BADGE})]({colab_url(path)})"


# --------------------------------------------------------------------------------------- check
def problems() -> list[str]:
    address = repository()
    found = []
    for folder in ("solutions", "lessons"):
        for path in notebooks(folder):
            src = _source(first_code_cell(json.loads(path.read_text())))
            specs = INSTALL_RE.findall(src)
            if not specs:
                found.append(f"{path.relative_to(REPO)}: the first code cell has no 'lmsample @ git+...' install line")
            for _, url, tag in specs:
                if url != address:
                    found.append(f"{path.relative_to(REPO)}: installs from {url}, the Repository is {address}")
                if tag != release():
                    found.append(f"{path.relative_to(REPO)}: installs {'@' + tag if tag else 'the default branch'}, "
                                 f"not the release {release()}")
            extra = specs[0][0][len("lmsample"):] if specs else ""
            if src != first_cell(extra):
                found.append(f"{path.relative_to(REPO)}: the first code cell is not tools/links.py's FIRST_CELL "
                             "(python tools/links.py --write)")
    readme = (REPO / "README.md").read_text()
    if readme_badges() not in readme:
        found.append(f"README.md: the Binder badge block is missing or not {binder_url()}")
    paths = lesson_paths_in_readme(readme)
    if not paths:
        found.append("README.md: no lesson table")
    for path in paths:
        row = next(line for line in readme.splitlines() if f"`{path[len('lessons/'):]}`" in line)
        if colab_badge(path) not in row:
            found.append(f"README.md: the row of {path} has no Colab badge to {colab_url(path)}")
    for url in re.findall(r"https://(?:github\.com|mybinder\.org/v2/gh|colab\.research\.google\.com/github)/[^\s)\"']+", readme):
        owner, name = _github(address)
        if f"/{owner}/{name}" not in url:
            found.append(f"README.md: {url} does not point at {address}")
    return found


# --------------------------------------------------------------------------------------- write
def write_notebook_first_cells(only=()) -> list[str]:
    """Make the first code cell of every solutions/ notebook (or of the assignments ``only``) FIRST_CELL
    with the current address; return the assignments changed."""
    changed = []
    for path in notebooks("solutions"):
        if only and path.parent.name not in only:
            continue
        text = path.read_text()
        nb = json.loads(text)
        cell = first_code_cell(nb)
        src = _source(cell)
        specs = INSTALL_RE.findall(src)
        new = first_cell(specs[0][0][len("lmsample"):] if specs else "")
        if new != src:
            cell["source"] = new.splitlines(keepends=True)
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            changed.append(path.parent.name)
    return changed


def write_readme() -> None:
    path = REPO / "README.md"
    readme = path.read_text()
    block = readme_badges()
    if BADGES_START in readme:
        readme = re.sub(re.escape(BADGES_START) + r".*?" + re.escape(BADGES_END), lambda _: block, readme, flags=re.S)
    else:  # after the title and first paragraph
        head, sep, rest = readme.partition("\n\n")
        readme = head + sep + block + "\n\n" + rest
    lines = []
    for line in readme.splitlines():
        for p in lesson_paths_in_readme(line + "\n"):
            line = re.sub(r" *\[!\[Open in Colab\]\([^)]*\)\]\([^)]*\) *\|?$", "", line.rstrip()).rstrip(" |")
            line = f"{line} | {colab_badge(p)} |"
        lines.append(line)
    path.write_text("\n".join(lines) + "\n")


def regenerate(assignments) -> None:
    env = dict(os.environ, PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}")
    for a in assignments:
        subprocess.run(["nbgrader", "generate_assignment", a, "--force"], cwd=REPO / "autograder", env=env, check=True)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--write" in argv:
        changed = write_notebook_first_cells([a for a in argv if not a.startswith("-")])
        write_readme()
        if changed:
            regenerate(changed)
        print(f"rewrote the install line of {changed or 'no notebook'} and the README badges")
    found = problems()
    for p in found:
        print(p)
    if not found:
        print(f"every link points at {repository()}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
