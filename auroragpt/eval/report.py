"""The evaluation's files in RUN_DIR/eval/: results.jsonl, summary.csv, summary.md and plots.

- results.jsonl: one JSON row per checkpoint (everything, generations included), by step;
- summary.csv: the numeric columns of those rows, one line per step;
- summary.md: tables across checkpoints (a drilled skill's line next to its constant-answer
  floor), the plots, and "generations across steps" (each
  prompt's output at every step, the view that shows what the model picks up as tokens
  accumulate, and where it falls into loops);
- val_loss.png, probe_accuracy.png, repetition.png: metric vs tokens seen.

Every file is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from auroragpt.atomic import atomic_path, atomic_write_text

REPETITION_COLUMNS = ("distinct_1", "distinct_2", "rep_4")


def read_results(path: Path) -> list[dict]:
    """Rows of a results.jsonl (none if it does not exist)."""
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not a JSON row ({err}); delete the line "
                                 "or the file to re-evaluate") from err
    return rows


def write_results(rows: Iterable[dict], path: Path) -> None:
    ordered = sorted(rows, key=lambda r: r["step"])
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in ordered))


def flatten(row: dict) -> dict[str, float | int | None]:
    """The numeric columns of a row: val_loss, val_loss/<corpus>, probe_acc/<corpus>, ..."""
    flat: dict[str, float | int | None] = {"step": row["step"], "tokens_seen": row["tokens_seen"]}
    for key in ("val_loss", "val_ppl"):
        if key in row:
            flat[key] = row[key]
    for name, values in row.get("val", {}).items():
        flat[f"val_loss/{name}"] = values["loss"]
        flat[f"val_ppl/{name}"] = values["ppl"]
    accuracies = {name: p["accuracy"] for name, p in row.get("probes", {}).items()}
    for name, value in accuracies.items():
        flat[f"probe_acc/{name}"] = value
    corpora = [value for name, value in accuracies.items() if "/" not in name]  # not skills
    if corpora:
        flat["probe_acc/mean"] = sum(corpora) / len(corpora)
    for mode, scores in row.get("repetition", {}).items():
        for name in REPETITION_COLUMNS:
            flat[f"{mode}/{name}"] = scores.get(name)
    flat["eval_seconds"] = row.get("eval_seconds")
    return flat


def write_report(run_dir: Path, rows: list[dict]) -> None:
    """summary.csv, summary.md and the plots for `rows` (sorted by step)."""
    out = Path(run_dir) / "eval"
    out.mkdir(parents=True, exist_ok=True)
    flat = [flatten(r) for r in rows]
    _write_csv(flat, out / "summary.csv")
    plots = write_plots(flat, out)
    atomic_write_text(out / "summary.md", summary_markdown(run_dir, rows, plots))


def _write_csv(flat: list[dict], path: Path) -> None:
    columns: list[str] = []
    for row in flat:
        columns += [c for c in row if c not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(flat)
    atomic_write_text(path, buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# Markdown
# ----------------------------------------------------------------------------------------------


def summary_table(rows: list[dict]) -> str:
    """The headline table: one line per checkpoint (also what `auroragpt eval` prints)."""
    flat = [flatten(r) for r in rows]
    header = ["step", "tokens seen", "val loss", "val ppl", "corpus-mean loss", "probe acc",
              "greedy distinct-2", "greedy rep-4", "sampled distinct-2", "sampled rep-4"]
    keys = ["val_loss", "val_ppl", "val_loss/corpus_mean", "probe_acc/mean", "greedy/distinct_2",
            "greedy/rep_4", "sampled/distinct_2", "sampled/rep_4"]
    lines = [[str(f["step"]), human_count(f["tokens_seen"])] + [_num(f.get(k)) for k in keys]
             for f in flat]
    return _markdown_table(header, lines)


def per_corpus_table(rows: list[dict], prefix: str) -> str | None:
    """Steps x corpora for one column family, e.g. prefix "probe_acc/" (None if absent)."""
    flat = [flatten(r) for r in rows]
    names: list[str] = []
    for f in flat:
        names += [k[len(prefix):] for k in f if k.startswith(prefix) and k[len(prefix):] not in names]
    if not names:
        return None
    lines = [[str(f["step"]), human_count(f["tokens_seen"])]
             + [_num(f.get(prefix + name)) for name in names] for f in flat]
    return _markdown_table(["step", "tokens seen", *names], lines)


def skills_table(rows: list[dict]) -> str | None:
    """Skills (`corpus/skill` probe groups) x checkpoints, as percentages, with each floor."""
    names = [name for name in rows[-1].get("probes", {}) if "/" in name]
    if not names:
        return None

    def percent(value) -> str:
        return "" if value is None else f"{value:.0%}"

    lines = [[name, percent(rows[-1]["probes"][name].get("floor"))]
             + [percent(row.get("probes", {}).get(name, {}).get("accuracy")) for row in rows]
             for name in names]
    return _markdown_table(["skill", "floor", *(f"step {row['step']}" for row in rows)], lines)


def summary_markdown(run_dir: Path, rows: list[dict], plots: list[str]) -> str:
    parts = [f"# Evaluation of `{Path(run_dir).name}`", ""]
    if not rows:
        return "\n".join(parts + ["No checkpoint evaluated yet.", ""])
    parts += [
        f"{len(rows)} checkpoint(s), steps {rows[0]['step']} to {rows[-1]['step']}. "
        "Val loss is the mean next-token NLL (nats) on the held-out samples training scores, "
        "corpora weighted as in the blend (the `val_loss` training logs for the same "
        "checkpoint), val ppl its exp; corpus-mean loss is the plain mean of the per-corpus "
        "losses, every corpus counting once; probe accuracy is greedy exact match on held-out probes; distinct-2 is the "
        "share of distinct token bigrams in the generations (higher = more varied), rep-4 "
        "the share of 4-grams a generation repeats from itself (higher = more looping).",
        "", "## Across checkpoints", "", summary_table(rows), "",
    ]
    skills = skills_table(rows)
    if skills:
        parts += ["## Skills", "",
                  "Each drilled skill's probe accuracy at every checkpoint, next to its floor: "
                  "the score of always giving the probe set's commonest answer, so a skill is "
                  "learned where its line rises well above the floor.", "", skills, ""]
    for title, prefix in (("Validation loss per corpus", "val_loss/"),
                          ("Probe accuracy per corpus", "probe_acc/")):
        table = per_corpus_table(rows, prefix)
        if table:
            parts += [f"## {title}", "", table, ""]
    if plots:
        parts += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    parts += _generations_section(rows)
    parts += _probe_examples_section(rows[-1])
    return "\n".join(parts)


def _generations_section(rows: list[dict]) -> list[str]:
    prompts: list[str] = []
    for row in rows:
        prompts += [g["prompt"] for g in row.get("generations", []) if g["prompt"] not in prompts]
    parts = ["## Generations across steps", "",
             "The same prompts at every checkpoint: greedy (temperature 0) and sampled.", ""]
    for prompt in prompts:
        parts += [f"### Prompt: {_inline(prompt)}", ""]
        for row in rows:
            gen = next((g for g in row.get("generations", []) if g["prompt"] == prompt), None)
            if gen is not None:
                parts += [f"**step {row['step']}** ({human_count(row['tokens_seen'])} tokens)",
                          "", "greedy:", _fenced(prompt + gen["greedy"]),
                          "sampled:", _fenced(prompt + gen["sampled"]), ""]
    return parts


def _probe_examples_section(row: dict) -> list[str]:
    probes = row.get("probes", {})
    if not probes:
        return []
    parts = [f"## Probe examples at step {row['step']}", ""]
    lines = [[name, _inline(ex["prompt"]), _inline(ex["answer"]), _inline(ex["output"]),
              "yes" if ex["correct"] else "no"]
             for name, p in probes.items() for ex in p["examples"]]
    return parts + [_markdown_table(["corpus", "prompt", "answer", "output", "correct"], lines),
                    ""]


def _markdown_table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out)


def _fenced(text: str) -> str:
    fence = "```"
    while fence in text:  # a fence longer than any backtick run inside
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def _inline(text: str, limit: int = 80) -> str:
    """Text fit for a table cell: newlines shown as ⏎, pipes escaped, long text cut."""
    text = text.replace("\n", "⏎").replace("|", "\\|")
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return f"`{text}`" if "`" not in text else text


def _num(value) -> str:
    if value is None:
        return "–"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def human_count(n: int) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


# ----------------------------------------------------------------------------------------------
# Plots
# ----------------------------------------------------------------------------------------------


def write_plots(flat: list[dict], out: Path) -> list[str]:
    """One PNG per metric family vs tokens seen; returns the file names written."""
    # NOTE: a bare Figure draws to files without touching pyplot's global backend, so
    # notebooks keep their inline figures after training or evaluation.
    from matplotlib.figure import Figure

    written = []
    families = [
        ("val_loss.png", "validation loss (nats/token)",
         [("val_loss", "val loss (blend)"), ("val_loss/", None)]),
        ("probe_accuracy.png", "probe accuracy (exact match)", [("probe_acc/", None)]),
        ("repetition.png", "repetition of generations", [
            (f"{mode}/{name}", f"{mode} {name.replace('_', '-')}")
            for mode in ("greedy", "sampled") for name in ("distinct_2", "rep_4")]),
    ]
    for filename, title, selectors in families:
        series = _series(flat, selectors)
        if not series:
            continue
        fig = Figure(figsize=(7, 4.2))
        ax = fig.subplots()
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, marker="o", label=label, **_style(label))
        ax.set_xlabel("tokens seen")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
        with atomic_path(out / filename) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        written.append(filename)
    return written


def _style(label: str) -> dict:
    """Aggregates drawn bold; repetition: one colour per measure, sampled dashed."""
    if label in ("val loss (blend)", "mean"):
        return {"linewidth": 2.5, "color": "black"}
    if label == "corpus_mean":
        return {"linewidth": 2.0, "color": "grey", "linestyle": "--"}
    measure = label.split(" ")[-1]
    if measure in ("distinct-2", "rep-4"):
        return {"color": "tab:blue" if measure == "distinct-2" else "tab:red",
                "linestyle": "--" if label.startswith("sampled") else "-"}
    return {"linewidth": 1.2}


def _series(flat: list[dict], selectors) -> dict[str, tuple[list, list]]:
    """label -> (tokens seen, values) for columns matching a prefix (label None) or exactly."""
    series: dict[str, tuple[list, list]] = {}
    for row in flat:
        for key, value in row.items():
            for selector, label in selectors:
                matched = key.startswith(selector) if label is None else key == selector
                if matched and value is not None:
                    name = key[len(selector):] if label is None else label
                    xs, ys = series.setdefault(name, ([], []))
                    xs.append(row["tokens_seen"])
                    ys.append(value)
    return series
