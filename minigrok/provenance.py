"""Results with provenance: the record of a command's printed table, and the documents
whose tables are generated from records.

A record (results/NAME.json in the repository, written by `--record FILE` on `ticket`,
`sweep` and `experiment`) holds:

    command      the exact command line that printed the table (without --record)
    report       the table it printed, verbatim
    commit       the minigrok commit it ran on: git HEAD of the checkout when the command
                 started (null outside a git checkout); "dirty" if the working tree's code
                 had changes then, or changed (or HEAD moved) before the record was written
    date         when it finished (UTC)
    machine      CPU, cores, BLAS library / kernel / threads, NumPy and Python versions
    fingerprint  {model: fingerprint.fingerprint(model)} of the models it trained: the
                 rounding of this code on this machine
    settings     (ticket, sweep, experiment) what its command ran: the training settings
                 and the model's widths with every default filled in, the seeds and every
                 option of the recipe (recipes.settings_record)

A document (README.md, RESULTS.md) embeds records between two comment lines:

    <!-- results: results/a.json results/b.json -->
    ... generated: each record's command and report, in a text block ...
    <!-- /results -->

`python -m minigrok.provenance README.md RESULTS.md` rewrites every such block from its
records. tests/test_provenance.py checks that every block is what its records say, and
recomputes each record's fingerprints: a record whose numbers this code (on a machine
with the same BLAS kernel) would no longer give fails as stale, naming the command to rerun.
It also resolves each record's command with this code (cli.command_settings, nothing run)
and compares the settings with the record's: a changed default (a split, a width, when
to prune) would otherwise leave a table under a command that now computes something
else. A setting added after a record was made counts as unchanged only with the value
that keeps the old behaviour, declared in SETTINGS_INTRODUCED.
"""
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys

from . import io
from .errors import MinigrokError
from .fingerprint import fingerprint
from .threads import blas_info

BLOCK = re.compile(r"(<!-- results: (?P<paths>[^>]*?) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


# ----------------------------------------------------------------------------------------
# writing a record

def command_line(argv, program="minigrok"):
    """'PROGRAM ARGS' for argv without its --record option, quoted for a shell."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--record":
            skip = True
        elif not arg.startswith("--record="):
            kept.append(arg)
    return " ".join([program, *map(shlex.quote, kept)])


def git_commit():
    """(commit, dirty) of the git checkout minigrok runs from, or (None, None). dirty: a
    tracked file other than the records (results/) and the documents (*.md) differs from
    the commit."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no",
                                 "--", ".", ":(exclude)results", ":(exclude)*.md"],
                                capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def cpu_model():
    """(the CPU's model name from /proc/cpuinfo or 'unknown', the CPUs this process may use)."""
    name = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return name, cpus


def machine():
    """The machine and the libraries that determine the rounding."""
    import numpy
    cpu, cpus = cpu_model()
    info = blas_info()
    return {"cpu": cpu, "cpus": cpus,
            "blas": {k: info.get(k) for k in ("library", "corename", "threads")},
            "numpy": numpy.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def check_record_path(path, out=None):
    """One-line refusal for a record path that cannot be written, or that lies in `out`,
    the folder the command writes (it would replace one of the command's own files);
    before any training. Returns git_commit() now, the code the command starts from
    (write_record's started)."""
    if out is not None:
        inside = os.path.commonpath([os.path.abspath(path), os.path.abspath(out)]) == os.path.abspath(out)
        if inside:
            raise MinigrokError(f"--record {path!r} is inside --out {out!r}, whose files this "
                                "command writes: give a path outside it")
    if not path.endswith(".json"):
        raise MinigrokError(f"--record {path!r}: a results record is a .json file")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise MinigrokError(f"--record {path!r}: folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise MinigrokError(f"--record {path!r} is a folder: give the .json file to write")
    return git_commit()


def write_record(path, argv, report, models, program="minigrok", started=None, settings=None):
    """Write the record of a finished command `program argv` (see the module docstring).
    started: git_commit() when the command started (check_record_path returns it); the
    record names that commit, dirty if the code differed from it then or differs now.
    settings: what the command ran (recipes.settings_record), resolved before it ran."""
    commit, dirty = git_commit()
    if started is not None and started[0] is not None:
        dirty = bool(started[1] or dirty or commit != started[0])
        commit = started[0]
    record = {
        "command": command_line(argv, program),
        "report": report,
        "commit": commit, "dirty": dirty,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "fingerprint": {m: fingerprint(m) for m in sorted(set(models))},
    }
    if settings is not None:
        record["settings"] = settings
    io.save_json(path, record)
    return record


# ----------------------------------------------------------------------------------------
# checking a record's settings

# settings added to the code after records were made: {"config.KEY" / "model.KEY" /
# "options.KEY": the value with which the code computes what it did before the setting
# existed}. A record without the setting matches only if the command now resolves to it.
SETTINGS_INTRODUCED = {}


def flatten(settings, prefix=""):
    """{"config.p": 67, "options.rate": 0.6, ...}: nested dicts as dotted keys."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def settings_drift(recorded, now, introduced=None):
    """The differences between a record's settings and what its command resolves to now:
    ['config.split: recorded \'sym\', now \'all\'', ...]; empty when they agree. A key
    the record lacks agrees if its value now is the one declared in `introduced`
    (default SETTINGS_INTRODUCED)."""
    introduced = SETTINGS_INTRODUCED if introduced is None else introduced
    old, new = flatten(recorded), flatten(now)
    drift = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            drift.append(f"{key}: recorded {old[key]!r}, no longer a setting")
        elif key not in old:
            if key not in introduced or introduced[key] != new[key]:
                drift.append(f"{key}: not recorded (added later), now {new[key]!r}")
        elif old[key] != new[key]:
            drift.append(f"{key}: recorded {old[key]!r}, now {new[key]!r}")
    return drift


# ----------------------------------------------------------------------------------------
# reading records and generating documents

RECORD_FIELDS = {"command": str, "report": str, "commit": (str, type(None)), "date": str,
                 "machine": dict, "fingerprint": dict}


def load_record(path):
    """A record, with one-line refusals for a missing or malformed file."""
    if os.path.isdir(path):
        raise MinigrokError(f"{path!r} is a folder: give a results record (.json)")
    record = io.load_json(path)
    if not isinstance(record, dict):
        raise MinigrokError(f"{path!r} is not a results record (not a JSON object)")
    missing = [k for k in RECORD_FIELDS if k not in record]
    if missing:
        raise MinigrokError(f"{path!r} is not a results record (no {', '.join(missing)})")
    wrong = [k for k, kind in RECORD_FIELDS.items() if not isinstance(record[k], kind)]
    if wrong or not isinstance(record["machine"].get("blas"), dict) or "cpu" not in record["machine"]:
        raise MinigrokError(f"{path!r} is not a results record ({', '.join(wrong) or 'machine'} "
                            "of the wrong kind)")
    return record


def render(paths, base="."):
    """The generated text of a block: each record's command and report in a text block."""
    out = []
    for path in paths:
        record = load_record(os.path.join(base, path))
        stamp = f"commit {record['commit'][:10]}" if record.get("commit") else "no commit"
        out.append(f"```text\n$ {record['command']}\n{record['report'].rstrip()}\n```\n"
                   f"<sub>{path}: {stamp}{' (with local changes)' if record.get('dirty') else ''}, "
                   f"{record['date'][:10]}, {record['machine']['cpu']}, "
                   f"{record['machine']['blas'].get('corename')} kernel, "
                   f"{record['machine']['blas'].get('threads')} BLAS thread(s)</sub>\n")
    return "\n".join(out)


OPEN, CLOSE = re.compile(r"<!-- results:"), re.compile(r"<!-- /results -->")


def check_blocks(text, where="the document"):
    """One-line refusal unless every `<!-- results: PATHS -->` line opens a block that its
    own `<!-- /results -->` closes, with at least one path and no block inside another:
    an unclosed opening would otherwise hide a hand-edited table from the check, or let
    regenerate() swallow the text up to a later block's end."""
    depth, opened = 0, None
    for number, line in enumerate(text.splitlines(), 1):
        if OPEN.search(line):
            if depth:
                raise MinigrokError(f"{where}, line {number}: a results block opens inside the block "
                                    f"of line {opened}, which has no <!-- /results --> before it")
            if not BLOCK.match(line + "\n<!-- /results -->") or not line.split("results:", 1)[1].split("-->")[0].split():
                raise MinigrokError(f"{where}, line {number}: give `<!-- results: PATH ... -->` "
                                    "with at least one record path")
            depth, opened = 1, number
        elif CLOSE.search(line):
            if not depth:
                raise MinigrokError(f"{where}, line {number}: <!-- /results --> closes no block")
            depth = 0
    if depth:
        raise MinigrokError(f"{where}, line {opened}: the results block has no <!-- /results -->")


def blocks(text):
    """[(paths, body)] of every results block of a document (check_blocks first)."""
    check_blocks(text)
    return [(m.group("paths").split(), m.group("body")) for m in BLOCK.finditer(text)]


def regenerate(text, base="."):
    """The document with every results block rewritten from its records (check_blocks first)."""
    check_blocks(text)
    return BLOCK.sub(lambda m: m.group(1) + render(m.group("paths").split(), base) + m.group(4), text)


def main(argv=None):
    """python -m minigrok.provenance DOC... : rewrite the results blocks of each document
    from the records it names (paths relative to the document's folder)."""
    docs = sys.argv[1:] if argv is None else argv
    if not docs:
        print("usage: python -m minigrok.provenance README.md [RESULTS.md ...]", file=sys.stderr)
        return 2
    try:
        for doc in docs:
            try:
                with open(doc, encoding="utf-8") as f:
                    text = f.read()
            except UnicodeDecodeError as exc:
                raise MinigrokError(f"{doc!r} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
            check_blocks(text, repr(doc))
            new = regenerate(text, os.path.dirname(os.path.abspath(doc)))
            if new != text:
                io.atomic_write(doc, lambda f: f.write(new.encode()))
                print(f"rewrote {len(blocks(new))} results blocks of {doc}")
            else:
                print(f"{doc}: {len(blocks(new))} results blocks, all current")
    except (MinigrokError, OSError) as exc:
        print(f"minigrok.provenance: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
