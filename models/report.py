"""The evaluation report: Markdown tables and PNG plots (matplotlib, behind the train extra)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from focusqc.models.postprocess import NO_STRUCTURE

if TYPE_CHECKING:
    from pathlib import Path

    from focusqc.models.evaluate import Scored
    from focusqc.models.evaluation import Evaluation

CLASSICAL_NAMES = (
    "normalized variance",
    "Brenner",
    "Tenengrad",
    "variance of Laplacian",
    "PowerLogLogSlope",
)


def fmt(value: float, digits: int = 3) -> str:
    """A number for a table; NaN (nothing to measure) as a dash."""
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def set_table(results: dict[str, dict[str, float]]) -> str:
    """One row per held-out set: the model's numbers and the best classical AUC."""
    rows = []
    for name, m in results.items():
        best = max(CLASSICAL_NAMES, key=lambda c: m[f"AUC {c}"])
        rows.append(
            [
                name,
                f"{m['tiles']:.0f} ({m['with structure']:.0f})",
                fmt(m["MAE um"], 2),
                fmt(m["MAE DOF"], 2),
                fmt(m["F1"]),
                fmt(m["AUC model"]),
                f"{fmt(m[f'AUC {best}'])} ({best})",
                f"{fmt(m['side accuracy'])} (n={m['side tiles']:.0f})",
                fmt(m["side confidence where invisible"], 2),
                f"{fmt(m['blank below gate'])} (n={m['blank tiles']:.0f})",
                fmt(m["blank skipped"]),
                fmt(m["structure acted on"]),
            ]
        )
    header = [
        "set",
        "tiles (with structure)",
        "MAE µm",
        "MAE DOF",
        "F1 out",
        "AUC model",
        "best classical AUC",
        "side accuracy",
        "side confidence where the optics hide it",
        "blank tiles below the gate",
        "blank tiles skipped (gate or no-structure flag)",
        "tiles with structure acted on",
    ]
    return table(header, rows)


def auc_table(results: dict[str, dict[str, float]]) -> str:
    """In/out AUC of the model and of every classical measure, per set."""
    rows = [
        [name, fmt(m["AUC model"]), *(fmt(m[f"AUC {c}"]) for c in CLASSICAL_NAMES)]
        for name, m in results.items()
    ]
    return table(["set", "model", *CLASSICAL_NAMES], rows)


def robustness_table(rows: list[dict[str, Any]]) -> str:
    """Model and classical in/out AUC per corruption and severity."""
    out = []
    for r in rows:
        best = max(CLASSICAL_NAMES, key=lambda c: r[c])
        margin = r["model"] - r[best]
        out.append(
            [
                r["corruption"],
                str(r["severity"]),
                fmt(r["model"]),
                f"{fmt(r[best])} ({best})",
                f"{margin:+.3f}",
            ]
        )
    return table(["corruption", "severity", "model AUC", "best classical AUC", "margin"], out)


def breakdown_table(rows: list[dict[str, Any]]) -> str:
    """The 20x set's defocus error per specimen kind, brightness band and thickness band."""
    return table(
        [
            "group",
            "tiles",
            "MAE µm",
            "median error µm",
            "share of the error",
            "median certainty",
            "acted on",
        ],
        [
            [
                r["group"],
                str(r["tiles"]),
                fmt(r["MAE um"], 2),
                fmt(r["median error um"], 2),
                fmt(100 * r["share of error"], 0) + "%",
                fmt(r["median certainty"], 2),
                f"{r['acted on']:.0%}",
            ]
            for r in rows
        ],
    )


def _pyplot() -> Any:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scatter_plot(scored: dict[str, Scored], threshold_dof: float, path: Path) -> None:
    """Predicted against true |defocus| (depth-of-field units), one panel per set."""
    plt = _pyplot()
    n = len(scored)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.3), squeeze=False)
    for ax, (name, s) in zip(axes[0], scored.items(), strict=True):
        keep = s.structure
        ax.scatter(
            s.truth_dof[keep],
            s.pred_dof[keep],
            s=6,
            c=s.certainty[keep],
            cmap="viridis",
            vmin=0,
            vmax=1,
        )
        ax.plot([0.1, 60], [0.1, 60], "k-", lw=0.6)
        ax.axhline(threshold_dof, color="r", lw=0.6)
        ax.axvline(threshold_dof, color="r", lw=0.6)
        ax.set(
            xscale="symlog",
            yscale="symlog",
            xlim=(0, 60),
            ylim=(0, 60),
            title=name,
            xlabel="true |defocus| (DOF)",
        )
        ax.title.set_fontsize(9)
    axes[0][0].set_ylabel("predicted |defocus| (DOF)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def auc_plot(results: dict[str, dict[str, float]], path: Path) -> None:
    """Grouped bars: in/out AUC of the model and the classical measures, per set."""
    plt = _pyplot()
    names = ["model", *CLASSICAL_NAMES]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    width = 0.8 / len(names)
    for k, metric in enumerate(names):
        values = [m[f"AUC {metric}"] for m in results.values()]
        ax.bar(np.arange(len(results)) + k * width, values, width, label=metric)
    ax.axhline(0.5, color="k", lw=0.6, ls=":")
    ax.set_xticks(np.arange(len(results)) + 0.4 - width / 2, list(results), fontsize=8)
    ax.set(ylim=(0, 1.02), ylabel="in/out AUC")
    ax.legend(fontsize=7, ncol=3, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def robustness_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Heat maps of the model's AUC and its margin over the best classical measure."""
    plt = _pyplot()
    corruptions = list(dict.fromkeys(r["corruption"] for r in rows))
    severities = sorted({r["severity"] for r in rows})
    model = np.full((len(corruptions), len(severities)), np.nan)
    margin = np.full_like(model, np.nan)
    for r in rows:
        i, j = corruptions.index(r["corruption"]), severities.index(r["severity"])
        model[i, j] = r["model"]
        margin[i, j] = r["model"] - max(r[c] for c in CLASSICAL_NAMES)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, values, title, cmap, lim in (
        (axes[0], model, "model in/out AUC", "viridis", (0.5, 1.0)),
        (axes[1], margin, "margin over the best classical AUC", "RdBu", (-0.5, 0.5)),
    ):
        image = ax.imshow(values, cmap=cmap, vmin=lim[0], vmax=lim[1], aspect="auto")
        ax.set_xticks(range(len(severities)), [str(s) for s in severities])
        ax.set_yticks(range(len(corruptions)), corruptions, fontsize=7)
        ax.set(xlabel="severity", title=title)
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def breakdown_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """MAE and median error per group, as horizontal bars (the table, drawn)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    ax.barh(y + 0.2, [r["MAE um"] for r in rows], 0.4, label="MAE")
    ax.barh(y - 0.2, [r["median error um"] for r in rows], 0.4, label="median error")
    ax.set_yticks(y, [f"{r['group']} (n={r['tiles']})" for r in rows], fontsize=8)
    ax.axvline(0.3, color="r", lw=0.8, label="target MAE 0.3 µm")
    ax.set(xlabel="|defocus| error, µm (20x set, within ±5 µm)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def certainty_plot(scored: Scored, gate: float, path: Path) -> None:
    """Certainty of blank tiles against tiles with structure, with the action gate."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    bins = np.linspace(0, 1, 41)
    ax.hist(scored.certainty[~scored.structure], bins, alpha=0.7, label="blank tiles")
    ax.hist(scored.certainty[scored.structure], bins, alpha=0.7, label="tiles with structure")
    ax.axvline(gate, color="r", lw=0.8, label=f"action gate {gate}")
    ax.set(xlabel="certainty", ylabel="tiles")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(evaluation: Evaluation, out_dir: Path, command: str) -> Path:
    """Write ``evaluation.md`` and its plots into ``out_dir``; returns the Markdown path."""
    from focusqc.models.evaluate import SETS, TARGET_SET
    from focusqc.models.evaluation import targets

    out_dir.mkdir(parents=True, exist_ok=True)
    scatter_plot(evaluation.scored, evaluation.threshold_dof, out_dir / "eval_scatter.png")
    auc_plot(evaluation.results, out_dir / "eval_auc.png")
    robustness_plot(evaluation.robustness, out_dir / "eval_robustness.png")
    certainty_plot(evaluation.scored[TARGET_SET], evaluation.gate, out_dir / "eval_certainty.png")
    if evaluation.breakdown:
        breakdown_plot(evaluation.breakdown, out_dir / "eval_breakdown.png")
    model = evaluation.model
    lines = [
        "# Focus model evaluation",
        "",
        f"Model `{model['version']}` (sha256 `{model['sha256'][:16]}...`), run on "
        f"{model['provider']} ({model.get('precision', 'float32')}) in "
        f"{evaluation.seconds:.0f} s, written by:",
        "",
        f"```bash\n{command}\n```",
        "",
        f"Default verdict: out of focus above {evaluation.threshold_dof} depths of field (DOF); "
        f"action gate: certainty {evaluation.gate}; no structure from P(blank) {NO_STRUCTURE}, "
        f"after the model's calibrated blank-logit shift of {model.get('blank_offset', '0')}. "
        "One DOF is λ/(2(n - √(n² - NA²))), 0.68 µm at 20x/0.75 and 461 nm.",
        "",
        "## Targets",
        "",
        table(
            ["target", "measured", "met"],
            [[what, got, "yes" if ok else "**no**"] for what, got, ok in targets(evaluation)],
        ),
        "",
        "The side target's ceiling: an ideal observer that knows each tile's specimen, optics, "
        "camera and |defocus|, and reads the image by the likelihood ratio of its two sides "
        "under the camera's noise (`focusqc.models.ideal`), on the same tiles. A model must "
        "also guess the specimen, so on average it cannot do better.",
        "",
        "## Held-out simulated sets",
        "",
        *[f"- **{s.name}**: {s.what}." for s in SETS],
        "",
        "Every set uses seeds that training never draws. MAE is over tiles with structure up to "
        "8 DOF (5 µm on the 20x set); side accuracy over tiles whose optics show the side "
        "(an index mismatch, or brightfield) from 2 DOF (1.5 µm on the 20x set).",
        "",
        set_table(evaluation.results),
        "",
        "![predicted against true defocus](eval_scatter.png)",
        "",
        "![certainty of blank tiles](eval_certainty.png)",
        "",
        *(
            [
                f"## Where the {TARGET_SET} error comes from",
                "",
                "The tiles its MAE counts, by specimen kind, by the photons of the brightest "
                "in-focus structure, and by how thick the specimen is (a thick object is imaged "
                "as the sum of its slices, so even at its best focus it looks blurred). Share: of "
                "the set's summed error. Acted on: neither under the certainty gate nor flagged "
                "blank.",
                "",
                breakdown_table(evaluation.breakdown),
                "",
                "![error by specimen, brightness and thickness](eval_breakdown.png)",
                "",
            ]
            if evaluation.breakdown
            else []
        ),
        "## Against the classical focus measures",
        "",
        "In/out AUC: how well each score separates tiles beyond the threshold from tiles within "
        "it, over tiles with structure. The classical measures run on the raw camera image, as "
        "Micro-Manager computes them; higher means sharper, so an AUC below 0.5 means the "
        "measure ranks defocused tiles as sharper (noise and content dominate it across fields).",
        "",
        auc_table(evaluation.results),
        "",
        "![AUC per set](eval_auc.png)",
        "",
        "## Robustness: each corruption at each severity (20x set)",
        "",
        robustness_table(evaluation.robustness),
        "",
        "![robustness](eval_robustness.png)",
    ]
    if evaluation.real:
        rows = [
            [
                r["data"],
                r["file"][:48],
                r["expected"],
                f"{r['defocus_um']:.2f}",
                f"{r['defocus_dof']:.2f}",
                f"{r['certainty']:.2f}",
                "yes" if r["right"] else "**no**",
            ]
            for r in evaluation.real
        ]
        lines += [
            "",
            "## Real images (../shared/data, never seen in training)",
            "",
            table(["data", "file", "expected", "defocus µm", "DOF", "certainty", "right"], rows),
        ]
    path = out_dir / "evaluation.md"
    path.write_text("\n".join(lines) + "\n")
    return path
