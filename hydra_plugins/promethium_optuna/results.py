"""What a finished sweep leaves in its folder: best result, all trials, figures."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import optuna
from omegaconf import OmegaConf
from optuna.trial import TrialState

log = logging.getLogger(__name__)


def _trial_summary(trial: optuna.trial.FrozenTrial, sweep_dir: Path) -> dict[str, Any]:
    job = trial.user_attrs.get("job_dir")
    return {
        "number": trial.number,
        "values": list(trial.values or []),
        "params": dict(trial.params),
        "run_dir": job or str(sweep_dir),
    }


def write_results(
    study: optuna.Study, sweep_dir: Path, directions: list[str], plots: bool = True
) -> dict[str, Any]:
    """Write ``optimization_results.yaml``, ``trials.csv`` and figures into ``sweep_dir``.

    Returns:
        The content of ``optimization_results.yaml``.
    """
    sweep_dir.mkdir(parents=True, exist_ok=True)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    states = {s.name: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] += 1
    results: dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "directions": directions,
        "n_trials": {k: v for k, v in states.items() if v},
    }
    if not complete:
        results["best"] = None
    elif len(directions) == 1:
        best = study.best_trial
        results.update(best_params=dict(best.params), best_value=best.value)
        results["best_trial"] = _trial_summary(best, sweep_dir)
    else:
        results["pareto_front"] = [_trial_summary(t, sweep_dir) for t in study.best_trials]
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
    study.trials_dataframe().to_csv(sweep_dir / "trials.csv", index=False)
    if plots and complete:
        _plots(study, sweep_dir, len(directions))
    if "best_trial" in results:
        log.info(
            "Best trial %d: value %s, params %s, run folder %s",
            results["best_trial"]["number"], results["best_value"],
            results["best_params"], results["best_trial"]["run_dir"],
        )  # fmt: skip
    return results


def _plots(study: optuna.Study, sweep_dir: Path, n_objectives: int) -> None:
    """Optimisation history and parameter importances as PNG (matplotlib backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    figures = {"optimization_history.png": ovm.plot_optimization_history}
    if n_objectives == 1 and len(study.best_trial.params) > 0:
        figures["param_importances.png"] = ovm.plot_param_importances
    for name, plot in figures.items():
        try:
            target = {"target": lambda t: t.values[0]} if n_objectives > 1 else {}
            ax = plot(study, **target)
            fig = ax.figure if hasattr(ax, "figure") else ax[0].figure
            fig.tight_layout()
            fig.savefig(sweep_dir / name, dpi=100)
            plt.close(fig)
        except (ValueError, RuntimeError, ZeroDivisionError) as err:  # e.g. one trial only
            log.warning("Optuna figure %s skipped: %s", name, err)
