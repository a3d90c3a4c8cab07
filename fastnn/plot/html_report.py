"""One self-contained HTML page about a study or a babysitting run.

Figures are inline SVG, the style sheet is inline, and the page has no
scripts and loads nothing: it opens offline, attaches to a mail, and
prints. A study's page holds its settings and space, the leaderboard, the
figures of :mod:`fastnn.plot`, the zoom history, the retests and the
failed trials with their reasons; a babysitting run's page its settings,
its learning curve with nudges and rollbacks marked, and its events.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone

from fastnn._version import __version__
from fastnn.io import replace_atomically

__all__ = ["report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { padding: 0.2em 0.6em; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f5f5f5; } td.text, th.text { text-align: left; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #555; }
pre { font-size: 0.8em; background: #f8f8f8; padding: 0.5em; overflow-x: auto; }
.note { color: #555; font-size: 0.9em; }
"""


def report(source, path=None, *, name: str = "default", title: str | None = None) -> str:
    """An HTML page about a study or a babysitting run; written to ``path`` when given.

    Parameters
    ----------
    source : Study, Babysitter, str or path-like
        A study, a study's SQLite file (``name`` picks the study), a
        babysitting run or its checkpoint directory.
    path : str or path-like, optional
        Where to write the page (atomically: a reader sees the old file or
        the whole page, never part of it).
    name : str, default "default"
        The study's name in its file (for a file ``source``).
    title : str, optional
        The page's title; default names the study or the run.

    Returns
    -------
    str
        The page.
    """
    from fastnn.search import Babysitter, Study

    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None; got {title!r}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (a string or path-like) or None; got "
                        f"{type(path).__name__}")
    if path is not None and isinstance(source, (str, os.PathLike)) and os.path.isfile(source) and \
            os.path.exists(path) and os.path.samefile(path, source):
        raise ValueError(f"path is {os.fspath(path)}, the study file the report is about: "
                         "writing the page there would replace the study; give another file")
    if isinstance(source, Babysitter):
        page = _babysit_page(source.dir, title)
    elif isinstance(source, Study):
        page = _study_page(source, title)
    elif isinstance(source, (str, os.PathLike)):
        if os.path.isdir(source):
            page = _babysit_page(source, title)
        elif os.path.isfile(source):
            with Study(source, name=name) as study:
                page = _study_page(study, title)
        else:
            raise FileNotFoundError(f"{os.fspath(source)} does not exist (expected a study file "
                                    "or a babysitting run's directory)")
    else:
        raise TypeError("source must be a Study, a Babysitter, a study file or a babysitting "
                        f"directory; got {type(source).__name__}")
    if path is not None:          # all or nothing: a crash mid-write leaves the old file
        replace_atomically(path, lambda fh: fh.write(page.encode("utf-8")))
    return page


# ------------------------------------------------------------ pieces

def _e(value) -> str:
    return html.escape(str(value))


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(headers, rows, text_columns=()) -> str:
    def cls(i):
        return ' class="text"' if i in text_columns else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f"<td{cls(i)}>{_e(_cell(v))}</td>" for i, v in enumerate(row))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg(fig, key: str) -> str:
    """The figure as inline SVG: text kept as text, ids unique on the page."""
    import matplotlib

    engine = fig.get_layout_engine()
    if engine is not None:
        # lay out once, then draw once: with an engine set, savefig lays out and draws a
        # first time (drawing nothing) before the real draw
        engine.execute(fig)
        fig.set_layout_engine(None)
    from fastnn.plot._mpl import HOVER

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # hover texts travel as links around their elements (fastnn.plot._mpl.hover): each
    # becomes a group whose <title> the browser shows under the pointer; no link is left
    opening = re.compile(r'<a xlink:href="' + re.escape(HOVER) + r'([^"]*)"[^>]*>')
    if opening.search(text):
        text = opening.sub(lambda m: f"<g><title>{m.group(1)}</title>", text)
        text = text.replace("</a>", "</g>")
    return text


def _figure(fig, key: str, caption: str) -> str:
    return (f'<figure id="fig-{_e(key)}">{_svg(fig, key)}'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _page(title: str, sections: list[str]) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{_e(title)}</h1><p class=\"note\">written by fastnn {_e(__version__)} on "
            f"{when}</p>" + "\n".join(sections) + "</body></html>\n")


# ------------------------------------------------------------ a study

def _study_page(study, title) -> str:
    from fastnn.plot.scales import scale_name

    trials = study.trials
    counts = Counter(str(t.state) for t in trials)
    settings = [("storage", study.storage_path or "(in memory)"), ("direction", study.direction),
                ("seed", study.seed), ("sampler", study.sampler),
                ("data fingerprint", study.data_fingerprint or "-"),
                ("trials", ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
                 or "none yet")]
    space = [(n, repr(d), scale_name(d)) for n, d in study.space.items()]
    sections = ["<h2>Settings</h2>" + _table(["setting", "value"], settings, (0, 1)),
                "<h2>Space</h2>" + _table(["parameter", "distribution", "axis"], space, (0, 1, 2))]
    sections.append(_leaderboard(study))
    if trials:
        sections.append("<h2>Figures</h2>" + _study_figures(study))
    sections.append(_zoom_section(study))
    sections.append(_retest_section(study))
    sections.append(_failed_section(trials))
    return _page(title or f"fastnn study {study.name!r}", sections)


def _leaderboard(study, top: int = 20) -> str:
    """The best trials: value, state, epochs trained, duration, parameters; and, for an
    accuracy on known validation rows, how many rows separate each from the best. COMPLETE
    trials are ranked; when fewer than ``top``, the best PRUNED ones follow, unranked (their
    value is the last they reported, before they were stopped)."""
    from fastnn.plot.search import value_name

    ranked = study.ranked()
    if not ranked:
        return "<h2>Leaderboard</h2><p>No complete trial yet.</p>"
    metric = value_name(study.trials)
    names = study.space.names
    sign = -1.0 if study.direction == "maximize" else 1.0
    pruned = sorted((t for t in study.trials if str(t.state) == "PRUNED" and t.value is not None),
                    key=lambda t: (sign * t.value, t.number))
    shown = ranked[:top] + pruned[:max(0, top - len(ranked))]
    n_rows = Counter(t.user_attrs.get("val_rows") for t in shown
                     if isinstance(t.user_attrs.get("val_rows"), int)).most_common(1)
    n_rows = n_rows[0][0] if n_rows and "accuracy" in metric else None
    best = ranked[0].value
    headers = ["rank", "trial", metric, "state", "epochs", "seconds"]
    headers += ["rows behind best"] if n_rows else []
    rows = []
    for i, t in enumerate(shown, 1):
        row = [i if i <= len(ranked) else "-", t.number, t.value, str(t.state).lower(),
               _epochs(t), _seconds(t)]
        if n_rows:
            row.append(round(abs(best - t.value) * n_rows))
        rows.append(row + [t.params.get(n) for n in names])
    note = ""
    if n_rows:
        last = ranked[:top][-1]
        gap = round(abs(best - last.value) * n_rows)
        note = (f"<p class=\"note\">{_e(metric.capitalize())} on {n_rows} validation rows: one "
                f"row is {1 / n_rows:.4f}. The {len(ranked[:top])} best complete trials lie "
                f"within {gap} rows of the best, so neighbouring ranks are often a row or two "
                f"apart: within the noise of another seed or split (a retest tells).")
        if len(shown) > len(ranked):
            note += " Pruned trials follow, unranked, with the value they last reported."
        note += "</p>"
    return "<h2>Leaderboard</h2>" + note + _table(headers + names, rows, (3,))


def _epochs(t):
    epochs = t.user_attrs.get("epochs")
    if isinstance(epochs, int):
        return epochs
    return max((step for step, _ in t.intermediate), default=None)


def _seconds(t):
    return None if t.duration is None else round(t.duration, 1)


def _study_figures(study) -> str:
    from fastnn.plot.curves import learning_curves
    from fastnn.plot.batches import batches
    from fastnn.plot.importances import importances
    from fastnn.plot.search import (contour, edf, history, parallel_coordinates, slices,
                                    value_name, zoom)

    metric = value_name(study.trials)
    parts = [_figure(history(study), "history",
                     f"The {metric} of each trial, the best so far, and where each round began; "
                     "trials far below the rest are triangles on the bottom edge."),
             _figure(slices(study), "slices",
                     f"The {metric} against each parameter on the scale it was sampled on; "
                     "pruned trials hollow squares, failed ones red crosses at the bottom."),
             _figure(parallel_coordinates(study), "parallel",
                     "One line per trial through every parameter's axis, coloured by rank.")]
    complete = [t for t in study.trials if str(t.state) == "COMPLETE"]
    if len(complete) >= 3:
        parts.append(_figure(importances(study), "importances",
                             "Which parameters mattered (PED-ANOVA from this study's trials) "
                             "beside the course's order."))
    if len(study.space.names) >= 2 and len(complete) >= 3:
        first, second = list(study.importances())[:2]
        parts.append(_figure(contour(study, [first, second]), "contour",
                             f"The {metric} over the two parameters that account for most of "
                             f"its spread ({first} and {second}), interpolated between the "
                             "trials."))
    if complete:
        parts.append(_figure(edf(study), "edf",
                             f"The fraction of trials whose {metric} reached each level, of all "
                             "trials and of each round."))
    if study.batching is not None and study.trials:
        parts.append(_figure(batches(study), "batches",
                             f"Where the model sent each batch: every parameter by trial, "
                             f"coloured by {metric}, batch boundaries dashed."))
    if study.rounds() and study.batching is None:
        parts.append(_figure(zoom(study), "zoom",
                             "The range each coarse-to-fine round sampled (shaded), trials "
                             "coloured by rank, round 1 on top."))
    if any(t.intermediate for t in study.trials):
        parts.append(_figure(learning_curves(study), "curves",
                             f"The {metric} each trial reported as it trained, coloured by "
                             "rank; the best trial in black."))
    return "\n".join(parts) + ("<p class=\"note\">Rest the pointer on a point or a line to "
                               "read its trial's parameters.</p>")


def _zoom_section(study) -> str:
    rounds = study.rounds()
    if study.batching is not None:
        return ("<h2>Zoom history</h2><p>No box: the model sampler draws from the whole space "
                "and concentrates where the good trials are (see where it sent each "
                "batch).</p>")
    if not rounds:
        return "<h2>Zoom history</h2><p>No rounds stored.</p>"
    from fastnn.search import Choice

    names = [n for n in study.space.names if not isinstance(study.space[n], Choice)]
    rows = []
    for rec in rounds:
        span = f"{min(rec['trials'])}-{max(rec['trials'])}" if rec["trials"] else "-"
        rows.append([rec["call"] + 1, f"{rec['round']}/{rec['rounds']}", span] +
                    [_range(rec["ranges"].get(n)) for n in names])
    return ("<h2>Zoom history</h2><p class=\"note\">The range each round sampled (Choice "
            "parameters keep every option).</p>" +
            _table(["optimize call", "round", "trials"] + names, rows))


def _range(low_high) -> str:
    if not low_high:
        return "-"
    return f"{low_high[0]:.3g} .. {low_high[1]:.3g}"


def _retest_section(study) -> str:
    runs = study.retests()
    if not runs:
        return "<h2>Retests</h2><p>No retests stored.</p>"
    values = defaultdict(list)
    for r in runs:
        if r["value"] is not None:
            values[(r["retest"], r["number"])].append(r["value"])
    first = {t.number: t.value for t in study.trials}
    rank = {t.number: i for i, t in enumerate(study.ranked(), 1)}
    sign = -1.0 if study.direction == "maximize" else 1.0
    rows = []
    for retest in sorted({key[0] for key in values}):
        numbers = sorted((n for r, n in values if r == retest),
                         key=lambda n: (sign * statistics.fmean(values[(retest, n)]), n))
        for new_rank, number in enumerate(numbers, 1):
            vs = values[(retest, number)]
            rows.append([retest, number, first.get(number), rank.get(number), len(vs),
                         statistics.fmean(vs), statistics.stdev(vs) if len(vs) > 1 else None,
                         new_rank])
    failed = [[r["retest"], r["number"], r["seed"], r["error"]] for r in runs
              if r["value"] is None]
    out = ("<h2>Retests</h2><p class=\"note\">Do the winners stay winners? Each retested trial's "
           "rank in the study, and its rank among the retested by their mean.</p>" +
           _table(["retest", "trial", "first value", "rank before", "runs", "mean", "std",
                   "rank after"], rows))
    if failed:
        out += "<p>Failed retest runs:</p>" + _table(["retest", "trial", "seed", "error"],
                                                     failed, (3,))
    return out


def _failed_section(trials) -> str:
    failed = [t for t in trials if str(t.state) == "FAILED"]
    if not failed:
        return "<h2>Failed trials</h2><p>None.</p>"
    items = []
    for t in failed:
        params = ", ".join(f"{k}={_cell(v)}" for k, v in t.params.items())
        tb = f"<details><summary>traceback</summary><pre>{_e(t.traceback)}</pre></details>" \
            if t.traceback else ""
        items.append(f"<li><b>trial {t.number}</b>: {_e(t.error or 'no reason stored')}"
                     f"<br><span class=\"note\">{_e(params)}</span>{tb}</li>")
    return f"<h2>Failed trials ({len(failed)})</h2><ul>{''.join(items)}</ul>"


# ------------------------------------------------------------ a babysitting run

def _babysit_page(checkpoint_dir, title) -> str:
    from fastnn.plot.curves import learning_curves
    from fastnn.search.babysitter import read_run

    state, events = read_run(checkpoint_dir)
    curve = state.get("curve", [])
    settings = [("directory", os.fspath(checkpoint_dir)), ("epoch", state.get("epoch")),
                ("learning rate", state.get("lr")), ("batch size", state.get("batch_size")),
                ("seed", state.get("seed"))]
    watched = "val_loss" if curve and curve[-1].get("val_loss") is not None else "loss"
    if curve:
        best = min(curve, key=lambda r: r[watched])
        settings.append(("best epoch", f"{best['epoch']} ({watched} {best[watched]:.4g})"))
    epochs = [e for e in events if e["event"] == "epoch"]
    acts = [[i, e["event"], e["epoch"], _details(e)] for i, e in enumerate(events)
            if e["event"] != "epoch"]
    keys = ["loss", "accuracy", "val_loss", "val_accuracy", "lr"]
    sections = ["<h2>Settings</h2>" + _table(["setting", "value"], settings, (0, 1)),
                "<h2>Learning curve</h2>" + _figure(
                    learning_curves(checkpoint_dir), "curve",
                    "Every epoch trained, rolled-back ones included; dashed lines: rollbacks; "
                    "dotted lines: learning-rate changes."),
                "<h2>Events</h2>" + _table(["#", "event", "epoch", "details"], acts, (1, 3)),
                "<h2>Epochs</h2>" + _table(["epoch"] + keys,
                                           [[e["epoch"]] + [e.get(k) for k in keys]
                                            for e in epochs])]
    return _page(title or f"fastnn babysitting run {os.fspath(checkpoint_dir)}", sections)


def _details(event: dict) -> str:
    skip = {"time", "event", "epoch", "model"}
    return ", ".join(f"{k}={_cell(v)}" for k, v in event.items() if k not in skip)
