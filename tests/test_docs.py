"""The documentation cites only files of this repository, and docs/design.md describes
the run folder that `minigrok train` writes."""
import os
import re

from minigrok import io
from minigrok.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESIGN = os.path.join(ROOT, "docs", "design.md")


def text_files():
    for base, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("runs", "build", "dist")
                   and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith((".md", ".py", ".cfg", ".toml")):
                yield os.path.join(base, name)


def test_links_point_into_the_repository():
    for path in (os.path.join(ROOT, "README.md"), os.path.join(ROOT, "RESULTS.md"),
                 os.path.join(ROOT, "benchmarks", "RESULTS.md"), DESIGN):
        with open(path) as f:
            text = f.read()
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if "://" not in target:
                assert os.path.exists(os.path.join(os.path.dirname(path), target)), (path, target)
    with open(os.path.join(ROOT, "README.md")) as f:
        assert "(docs/design.md)" in f.read()
    outside = "DESIGN" + ".md"  # a notes file that lived outside the repository
    for path in text_files():
        with open(path, errors="replace") as f:
            assert outside not in f.read(), path


def test_design_notes_list_the_files_of_a_run_folder(tmp_path, capsys):
    with open(DESIGN) as f:
        section = f.read().split("### A run folder", 1)[1].split("\n### ", 1)[0]
    names = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert "final.npz" in names and "checkpoints/epoch_<n>.npz" in names
    out = tmp_path / "r"
    assert main(["train", "--p", "11", "--epochs", "6", "--checkpoint-every", "3", "--quiet",
                 "--out", str(out)]) == 0
    for name in names:
        assert (out / name.replace("<n>", "3")).exists(), name
    summary = io.load_json(str(out / "summary.json"))
    row = next(line for line in section.splitlines() if line.startswith("| `summary.json`"))
    for key in summary:
        assert f"`{key}`" in row, key


def test_the_readme_lists_every_checked_setting():
    """The README's table of allowed values names every setting settings.RULES checks."""
    from minigrok.settings import RULES
    with open(os.path.join(ROOT, "README.md")) as f:
        table = f.read().split("| setting | allowed |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z0-9_]+)`", table))
    assert set(RULES) - named == set(), set(RULES) - named
