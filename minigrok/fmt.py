"""How numbers are written for people (tables, result lines, figure titles). The files
(CSV, JSON) keep the exact values; only what is printed or drawn goes through here.

    epoch     1010, or 'never' for a time that was not reached (None)
    rate      0.0, 0.6, 0.25: at least one decimal, so rate 0 reads 0.0 next to 0.6
    speed-up  26.5x (one decimal), or 'n/a'
    accuracy  0.9677 (four decimals)
    count     1 ticket, 3 tickets
"""


def fmt_epoch(epoch):
    """An epoch count (t_mem, t_gen), 'never' when it was not reached."""
    return "never" if epoch is None else f"{epoch:.0f}"


def fmt_rate(rate):
    """A pruning rate or density with at least one decimal: 0 -> '0.0', 0.25 -> '0.25'."""
    text = f"{float(rate):g}"
    return text if any(c in text for c in ".en") else text + ".0"


def fmt_speedup(ratio):
    """A speed-up ratio with one decimal and an x: 26.4918 -> '26.5x'; None -> 'n/a'."""
    return "n/a" if ratio is None else f"{ratio:.1f}x"


def fmt_acc(acc):
    """An accuracy (or R^2) with four decimals."""
    return f"{acc:.4f}"


def fmt_count(n, noun):
    """'1 ticket', '3 tickets': a count with its noun, singular or plural."""
    return f"{n} {noun}{'s' if n != 1 else ''}"
