"""`latest.json` -> `report.md` with PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import math
from pathlib import Path

SKIP_PLOTS = {"process_s", "import_s"}
_STATE = {True: "**met**", False: "**MISSED**", None: "not measured"}


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.{digits}g}"
        return f"{value:,.{digits}g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in row) + " |"
        for row in rows
    ]
    return lines


def plot_figure(figure: dict, out: Path) -> list[str]:
    """One grouped bar chart per metric: cases on the x axis, a bar per contender, min-max
    whiskers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: dict[str, list[dict]] = {}
    for row in figure.get("measurements", []):
        if row["metric"] in SKIP_PLOTS or row["median"] is None:
            continue
        metrics.setdefault(row["metric"], []).append(row)
    written = []
    for metric, rows in metrics.items():
        cases = list(dict.fromkeys(r["case"] for r in rows))
        contenders = list(dict.fromkeys(r["contender"] for r in rows))
        if len(rows) < 2:
            continue
        width = 0.8 / len(contenders)
        fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cases) * max(1, len(contenders) / 2)), 4))
        for i, contender in enumerate(contenders):
            xs, ys, lo, hi = [], [], [], []
            for j, case in enumerate(cases):
                row = next(
                    (r for r in rows if r["case"] == case and r["contender"] == contender), None
                )
                if row is None:
                    continue
                xs.append(j + (i - (len(contenders) - 1) / 2) * width)
                ys.append(row["median"])
                lo.append(row["median"] - row["min"])
                hi.append(row["max"] - row["median"])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=contender)
        values = [r["median"] for r in rows if r["median"] and r["median"] > 0]
        if values and max(values) / min(values) > 50:
            ax.set_yscale("log")
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(cases, rotation=15 if len(cases) > 3 else 0, fontsize=8)
        ax.set_ylabel(metric + (f" ({rows[0]['unit']})" if rows[0]["unit"] else ""))
        ax.set_title(f"{figure['name']}: {metric} (median, min-max)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        name = f"{figure['name']}_{metric}.png"
        fig.savefig(out / name, dpi=90)
        plt.close(fig)
        written.append(name)
    return written


def write_report(doc: dict, out: Path) -> Path:
    out = Path(out)
    m = doc["machine"]
    lines = [
        "# Runway benchmarks",
        "",
        f"Generated {doc['generated_at']} by `{doc['command'].strip()}` "
        f"at commit `{doc.get('git_commit')}`"
        f"{' (**--quick**: tiny sizes, numbers are not the figures)' if doc.get('quick') else ''}; "
        f"{doc['repeats']} repeat(s) per contender, contenders interleaved, "
        "each in a fresh process. "
        "Figures are medians with min-max over the repeats; ratios are of medians.",
        "",
        "## Machine",
        "",
        *_table(
            ["", ""],
            [
                ["CPU", str(m.get("cpu_model"))],
                ["cores", f"{m.get('logical_cores')} logical, {m.get('usable_cores')} usable"],
                ["memory", f"{m.get('memory_gib')} GiB"],
                ["GPU", str(m.get("gpu"))],
                ["OS / Python", f"{m.get('os')} / {m.get('python')}"],
                [
                    "load average (1, 5, 15 min) at start / end",
                    f"{m.get('load_average')} / {m.get('load_average_end')}",
                ],
            ],
        ),
        "",
        "The machine is shared: other processes ran beside these measurements; compare the ratios "
        "(measured side by side) rather than absolute times across runs.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in doc.get("versions", {}).items()),
        "",
        "## Targets",
        "",
    ]
    rows = []
    for figure in doc["figures"]:
        for t in figure.get("targets", []):
            value = _fmt(t["value"])
            if t.get("unit"):
                value += f" {t['unit']}"
            rows.append(
                [
                    figure["name"],
                    t["name"],
                    value,
                    f"{t['op']} {_fmt(t['threshold'])}",
                    _STATE[t["met"]] + (f" ({t['reason']})" if t.get("reason") else ""),
                ]
            )
        if figure.get("status") == "error":
            rows.append([figure["name"], "(figure failed)", "-", "-", "error: see below"])
    lines += _table(["figure", "target", "measured", "target", "state"], rows)
    for figure in doc["figures"]:
        lines += ["", f"## {figure['name']}: {figure.get('title', '')}", ""]
        lines.append(
            f"Status: {figure.get('status')}; measured {figure.get('measured_at', '?')} "
            f"in {figure.get('seconds', 0):.0f} s (set-up included); load average then "
            f"{figure.get('load_average')}."
        )
        if figure.get("contender"):
            lines += [
                "",
                f"Project path: {figure['contender']}. Baselines: "
                + ("; ".join(figure.get("baselines") or []) or "none")
                + ".",
            ]
        if figure.get("error"):
            lines += ["", "```", figure["error"].strip()[-2500:], "```"]
        if figure.get("params"):
            lines += [
                "",
                "Parameters: "
                + "; ".join(f"{k} = {_short(v)}" for k, v in figure["params"].items()),
            ]
        if figure.get("measurements"):
            lines += [""] + _table(
                ["case", "contender", "metric", "median", "min-max", "n"],
                [
                    [
                        r["case"],
                        r["contender"],
                        r["metric"] + (f" ({r['unit']})" if r["unit"] else ""),
                        r["median"],
                        f"{_fmt(r['min'])}-{_fmt(r['max'])}",
                        r["n"],
                    ]
                    for r in figure["measurements"]
                ],
            )
        if figure.get("ratios"):
            lines += ["", "Ratios:", ""]
            lines += [
                f"- {r['name']}: **{_fmt(r['value'])}** ({r['meaning']})" for r in figure["ratios"]
            ]
        if figure.get("checks"):
            lines += ["", "Checks:", ""]
            lines += [
                f"- {'ok' if c['ok'] else '**FAILED**'}: {c['name']}"
                + (f" ({_short(c['detail'], 300)})" if not c["ok"] and c.get("detail") else "")
                for c in figure["checks"]
            ]
        if figure.get("notes"):
            lines += ["", "Notes:", ""] + [f"- {n}" for n in figure["notes"]]
        try:
            plots = plot_figure(figure, out)
        except Exception as err:  # noqa: BLE001 - a plot must not cost the report
            plots = []
            lines += ["", f"(plots failed: {err})"]
        figure["plots"] = plots
        lines += [""] + [f"![{p}]({p})" for p in plots]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _short(value, limit: int = 400) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
