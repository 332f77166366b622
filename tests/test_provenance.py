"""Results with provenance (minigrok/provenance.py, minigrok/fingerprint.py).

- Every results block of README.md, RESULTS.md and benchmarks/RESULTS.md is exactly what
  its records in results/ say (the documents' tables are generated, never typed).
- Every record's numerics fingerprint is what this code gives: a record whose numbers
  this code would no longer give fails as stale, naming the command to rerun. Where this
  machine's BLAS kernel differs from the record's, the fingerprint cannot be compared
  (the kernel rounds differently) and the check is skipped, saying so.
- Every record of a ticket, sweep or experiment pins the settings its command ran; the
  command resolved with this code (nothing run) gives the same settings, or the record
  is stale: a changed default would otherwise leave a table under a command that now
  computes something else.
- The fingerprint changes with any change of rounding, and `--record` writes a record
  that names its command and settings, and refuses a bad path before training.
"""
import glob
import json
import os
import re

import pytest

from minigrok import provenance
from minigrok.cli import command_settings, main
from minigrok.fingerprint import fingerprint
from minigrok.threads import blas_info

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = [os.path.join(ROOT, d) for d in ("README.md", "RESULTS.md", os.path.join("benchmarks", "RESULTS.md"))
        if os.path.exists(os.path.join(ROOT, d))]
RECORDS = sorted(glob.glob(os.path.join(ROOT, "results", "*.json")))


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: os.path.relpath(d, ROOT))
def test_every_results_block_is_generated_from_its_records(doc):
    with open(doc) as f:
        text = f.read()
    for paths, body in provenance.blocks(text):
        assert body == provenance.render(paths, os.path.dirname(doc)), (
            f"{os.path.relpath(doc, ROOT)}: the block of {' '.join(paths)} is not what the records "
            f"say: run `python -m minigrok.provenance {os.path.relpath(doc, ROOT)}`")


def test_every_record_is_used_by_a_document():
    used = set()
    for doc in DOCS:
        with open(doc) as f:
            used |= {os.path.relpath(os.path.join(os.path.dirname(doc), p), ROOT)
                     for paths, _ in provenance.blocks(f.read()) for p in paths}
    unused = sorted(os.path.relpath(r, ROOT) for r in RECORDS if os.path.relpath(r, ROOT) not in used)
    assert not unused, f"records no document shows: {unused}"


@pytest.mark.parametrize("path", RECORDS, ids=os.path.basename)
def test_results_are_not_stale(path):
    record = provenance.load_record(path)
    kernel = blas_info().get("corename")
    if record["machine"]["blas"].get("corename") != kernel:
        pytest.skip(f"{os.path.basename(path)} was measured with the {record['machine']['blas'].get('corename')} "
                    f"BLAS kernel, this machine uses {kernel}: its rounding cannot be compared here")
    for model, found in record["fingerprint"].items():
        assert fingerprint(model) == found, (
            f"results are stale: {os.path.relpath(path, ROOT)} was measured with {model} numerics "
            f"{found}, this code gives {fingerprint(model)}: rerun `{record['command']} --record "
            f"{os.path.relpath(path, ROOT)}` and `python -m minigrok.provenance README.md RESULTS.md benchmarks/RESULTS.md`")


RECIPE_RECORDS = [r for r in RECORDS if provenance.load_record(r)["command"].split()[:2] in
                  (["minigrok", "ticket"], ["minigrok", "sweep"], ["minigrok", "experiment"])]


@pytest.mark.parametrize("path", RECIPE_RECORDS, ids=os.path.basename)
def test_a_record_s_command_still_runs_the_settings_it_recorded(path):
    record = provenance.load_record(path)
    assert "settings" in record, f"{os.path.relpath(path, ROOT)} does not name the settings it ran"
    drift = provenance.settings_drift(record["settings"], command_settings(record["command"]))
    assert not drift, (
        f"results are stale: `{record['command']}` now runs other settings than "
        f"{os.path.relpath(path, ROOT)} records ({'; '.join(drift)}): rerun it with --record "
        f"{os.path.relpath(path, ROOT)}, or give the recorded values on its command line")


def test_a_changed_default_makes_the_records_of_its_commands_stale(monkeypatch):
    """Another default for when the ticket prunes, or the Transformer trained on the sym
    split by default: the records made with the old defaults no longer describe what
    their commands compute, and the check says which setting moved."""
    from minigrok import runs
    from minigrok.recipes import ticket
    mlp = provenance.load_record(os.path.join(ROOT, "results", "ticket-mlp-seed0.json"))
    d500 = provenance.load_record(os.path.join(ROOT, "results", "ticket-transformer-d500-seed0.json"))
    for record in (mlp, d500):
        assert not provenance.settings_drift(record["settings"], command_settings(record["command"]))
    monkeypatch.setattr(ticket, "DENSE_STOP_AFTER", {("modular", "mlp"): 777, ("modular", "transformer"): 777})
    monkeypatch.setitem(runs.MODEL_SPLITS, "transformer", "sym")
    was = mlp["settings"]["options"]["dense_stop_after"]
    assert provenance.settings_drift(mlp["settings"], command_settings(mlp["command"])) == [
        f"options.dense_stop_after: recorded {was!r}, now 777"]
    assert provenance.settings_drift(d500["settings"], command_settings(d500["command"])) == [
        "config.split: recorded 'all', now 'sym'", "options.dense_stop_after: recorded None, now 777"]


def test_a_setting_added_later_matches_only_with_its_declared_old_behaviour():
    recorded = {"config": {"p": 67}, "options": {"rate": 0.6}}
    now = {"config": {"p": 67, "prune_at": "cap"}, "options": {"rate": 0.6}}
    assert provenance.settings_drift(recorded, now, introduced={}) == [
        "config.prune_at: not recorded (added later), now 'cap'"]
    assert provenance.settings_drift(recorded, now, introduced={"config.prune_at": "cap"}) == []
    assert provenance.settings_drift(recorded, now, introduced={"config.prune_at": "held"}) != []
    assert provenance.settings_drift(now, recorded, introduced={}) == [
        "config.prune_at: recorded 'cap', no longer a setting"]


def test_fingerprint_changes_with_the_rounding(monkeypatch):
    """The Transformer trained through its layer-by-layer pair instead of its tabulated
    form: the same function, rounded in another order, so another fingerprint."""
    from minigrok.models import transformer
    tabulated = fingerprint("transformer")
    fingerprint.cache_clear()
    monkeypatch.setattr(transformer, "train_forward", transformer.forward)
    monkeypatch.setattr(transformer, "train_backward", transformer.backward)
    try:
        assert fingerprint("transformer") != tabulated
    finally:
        fingerprint.cache_clear()
    assert len(tabulated) == 16 and int(tabulated, 16) >= 0


def test_record_names_its_command_and_report(tmp_path, capsys):
    record_path = str(tmp_path / "r.json")
    argv = ["ticket", "--p", "11", "--epochs", "60", "--quiet", "--out", str(tmp_path / "o"),
            "--record", record_path]
    assert main(argv) == 0
    out = capsys.readouterr().out
    record = provenance.load_record(record_path)
    assert record["command"] == "minigrok " + " ".join(argv[:-2])
    assert record["report"].strip() and record["report"].strip() in out
    assert record["fingerprint"] == {"mlp": fingerprint("mlp")}
    assert record["machine"]["blas"]["threads"] == 1
    assert record["settings"] == command_settings(record["command"])
    assert record["settings"]["options"] == {"rate": 0.6, "scope": "global", "rewind_epoch": 0,
                                             "dense_stop_after": 10000}  # the MLP's default
    assert (record["settings"]["config"]["p"], record["settings"]["config"]["epochs"]) == (11, 60)
    block = f"<!-- results: r.json -->\nold\n<!-- /results -->\n"
    text = provenance.regenerate(block, str(tmp_path))
    assert f"$ {record['command']}" in text and record["report"].strip() in text
    assert provenance.blocks(text)[0][1] == provenance.render(["r.json"], str(tmp_path))


def test_a_record_names_the_commit_it_started_from(tmp_path, monkeypatch):
    """A commit made while a long command runs: the record names the commit the command
    started from, and says dirty (the code may have changed under it)."""
    states = iter([("a" * 40, False), ("b" * 40, False)])
    monkeypatch.setattr(provenance, "git_commit", lambda: next(states))
    path = str(tmp_path / "r.json")
    started = provenance.check_record_path(path)
    record = provenance.write_record(path, ["ticket"], "table", [], started=started)
    assert (record["commit"], record["dirty"]) == ("a" * 40, True)
    states = iter([("a" * 40, False), ("a" * 40, False)])
    record = provenance.write_record(path, ["ticket"], "table", [], started=provenance.check_record_path(path))
    assert (record["commit"], record["dirty"]) == ("a" * 40, False)


@pytest.mark.parametrize("bad", ["results.txt", "missing-folder/r.json", "."])
def test_a_bad_record_path_is_refused_before_training(bad, tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["ticket", "--p", "11", "--epochs", "60", "--quiet", "--out", str(out),
                 "--record", str(tmp_path / bad) if bad != "." else str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("minigrok: error: --record")
    assert not out.exists()


@pytest.mark.parametrize("text, message", [
    ("<!-- results: r.json -->\nhand-edited table\n", "line 1: the results block has no <!-- /results -->"),
    ("<!-- results: a.json -->\nold\n## prose\n<!-- results: b.json -->\nold\n<!-- /results -->\n",
     "line 4: a results block opens inside the block of line 1"),
    ("<!-- results:  -->\nhand table\n<!-- /results -->\n", "line 1: give `<!-- results: PATH ... -->`"),
    ("text\n<!-- /results -->\n", "line 2: <!-- /results --> closes no block"),
])
def test_a_broken_results_block_is_refused_not_skipped_or_swallowed(text, message):
    """An unclosed block hid a hand-edited table from the check; a nested one let
    regenerate() delete the prose up to the next block's end."""
    from minigrok.errors import MinigrokError
    for read in (provenance.blocks, provenance.regenerate):
        with pytest.raises(MinigrokError, match=re.escape(message)):
            read(text)


def test_a_malformed_record_is_refused_in_one_line(tmp_path):
    from minigrok.errors import MinigrokError
    good = provenance.load_record(RECORDS[0])
    for change, message in ((lambda r: r.pop("date"), "no date"), (lambda r: r.update(report=5), "report of the wrong kind"),
                            (lambda r: r["machine"].pop("blas"), "machine of the wrong kind")):
        record = json.loads(json.dumps(good))
        change(record)
        path = tmp_path / "r.json"
        path.write_text(json.dumps(record))
        with pytest.raises(MinigrokError, match=message):
            provenance.load_record(str(path))
    with pytest.raises(MinigrokError, match="is a folder"):
        provenance.load_record(str(tmp_path))
