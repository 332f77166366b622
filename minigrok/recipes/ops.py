"""ops: dense vs grokking ticket for each modular operation (issue 8).

For each op (--ops, default all eight: add, sub, mul, div, x2+y2, x2+xy+y2, x3+xy, rand)
and seed: the dense run of that op (a unit of ROOT/runs/) and the ticket at --rate
(default 0.6) with the ticket's early stop; all dense runs are independent units, then
all tickets (with --workers, trained in parallel). The table: dense and ticket t_gen (mean over seeds) and the speed-up dense / ticket
per op, at 0.99 and 0.95. 'rand' (a random table) is the control: nothing to generalise.
With the embedding MLP the table also gives each op's symmetric ceiling: the best
training accuracy any f(a, b) = f(b, a) can reach (data/modular.py), below 1 for a
non-commutative op on the all split, where the summed embeddings cannot tell (a, b)
from (b, a).
"""
import statistics
import time

from ..data.modular import OPERATIONS, symmetric_ceiling
from ..errors import MinigrokError
from ..figures import plotter
from ..fmt import fmt_rate, fmt_speedup
from ..pruning.magnitude import magnitude_prune
from .common import (dense_config, finish, format_table, result_row, ticket_hp, train_dense,
                     train_masked)

NAME = "ops"
OPTIONS = ("rate", "ops")  # the options it takes besides the training settings
IGNORES = ("op",)  # training settings it sets itself, per operation (--ops)


def check_ops(ops):
    bad = [o for o in ops if o not in OPERATIONS]
    if bad or not ops or len(set(ops)) != len(ops):
        raise MinigrokError(f"--ops {','.join(ops)!r}: give distinct names from {', '.join(OPERATIONS)}")
    return list(ops)


def speedup_table(rows, ops):
    """{op: {"0.99"/"0.95": {"dense", "ticket" (mean t_gen), "speedup" (mean of per-seed)}}}."""
    table = {}
    for op in ops:
        table[op] = {}
        for thr, col in (("0.99", "t_gen"), ("0.95", "t_gen_0.95")):
            dense = {r["seed"]: r[col] for r in rows if r["op"] == op and r["run"] == "dense"}
            ticket = {r["seed"]: r[col] for r in rows if r["op"] == op and r["run"] == "ticket"}
            mean = lambda xs: statistics.fmean(xs) if xs and None not in xs else None
            ups = [dense[s] / ticket[s] for s in dense if dense[s] and ticket.get(s)]
            table[op][thr] = {"dense": mean(list(dense.values())), "ticket": mean(list(ticket.values())),
                              "speedup": statistics.fmean(ups) if len(ups) == len(dense) else None}
    return table


def check(cfg, seeds, opts):
    return {**opts, "ops": check_ops(opts.get("ops") or list(OPERATIONS))}


def run(cfg, where, folder, seeds, opts, quiet=False):
    ops, rate = opts["ops"], opts["rate"]
    t0 = time.perf_counter()
    rows, curves, ceilings, runs = [], {}, {}, []
    dense = train_dense({(op, s): dense_config({**cfg, "op": op}, s) for op in ops for s in seeds},
                        where, quiet)
    jobs = [{"seed": s, "params": d["theta_0"], "masks": magnitude_prune(d["params"], rate=rate),
             "hp": ticket_hp({**cfg, "op": op})} for (op, s), d in dense.items()]
    tickets = train_masked(jobs, ticket_hp(cfg), where, "tickets", quiet, stacked=False)
    for ((op, s), d), job, result in zip(dense.items(), jobs, tickets):
        if cfg["model"] == "mlp":  # the worst seed's: the run's bound
            c = symmetric_ceiling(d["data"]["train_x"], d["data"]["train_y"])
            ceilings[op] = min(c, ceilings.get(op, 1.0))
        runs += [d["dir"], result["dir"]]
        for run_name, res, m in (("dense", d, None), ("ticket", result, job["masks"])):
            rows.append(result_row(f"{op} {run_name}", s, res, m, op=op, run=run_name))
            curves[(f"{op} {run_name}", s)] = res["metrics"]
    return finish(NAME, folder, cfg, seeds, rows, curves, t0,
                  extra={"ops": ops, "rate": rate, "table": speedup_table(rows, ops),
                         "symmetric_ceiling": ceilings},
                  plot=plotter(f"dense vs ticket per operation (rate {fmt_rate(rate)})"), runs=runs,
                  quiet=quiet)


def report(summary):
    return format_table(summary) + "\n\n" + format_ops_table(summary)


def format_ops_table(summary):
    """Per op: dense and ticket t_gen (mean over seeds; 'never' when no seed reached it,
    'k/n' when only k of n seeds did), the speed-up and, for the MLP, the symmetric ceiling."""
    ceilings = summary.get("symmetric_ceiling") or {}
    by_condition = summary["by_condition"]

    def t_gen(op, run, thr, mean):
        s = by_condition[f"{op} {run}"][thr]
        if mean is not None:
            return f"{mean:.0f}"
        return "never" if s["reached"] == 0 else f"{s['reached']}/{s['n']} seeds"

    lines = [f"{'op':<10}{'dense t_gen':>12}{'ticket t_gen':>13}{'speed-up':>9}"
             f"{'dense@.95':>11}{'ticket@.95':>11}{'speed-up':>9}"
             + (f"{'sym. ceiling':>14}" if ceilings else "")]
    for op, t in summary["table"].items():
        cells = []
        for thr, width in (("0.99", (12, 13)), ("0.95", (11, 11))):
            a = t[thr]
            cells.append(f"{t_gen(op, 'dense', thr, a['dense']):>{width[0]}}"
                         f"{t_gen(op, 'ticket', thr, a['ticket']):>{width[1]}}"
                         f"{'-' if a['speedup'] is None else fmt_speedup(a['speedup']):>9}")
        ceiling = ceilings.get(op)
        lines.append(f"{op:<10}" + "".join(cells)
                     + (f"{'-' if ceiling is None else f'{ceiling:.3f}':>14}" if ceilings else ""))
    lines.append("mean t_gen over seeds (never: no seed reached the threshold within the cap; "
                 "k/n seeds: only k did); speed-up = mean of dense / ticket per seed, "
                 "'-' unless every seed's dense run and ticket reached it"
                 + ("; sym. ceiling: the best training accuracy a model with f(a, b) = f(b, a), "
                    "as the embedding MLP, can reach" if ceilings else ""))
    return "\n".join(lines)
