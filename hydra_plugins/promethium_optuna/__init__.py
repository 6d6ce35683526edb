"""Promethium's Optuna sweeper for Hydra (optuna >= 4), with pruning across the job boundary.

Hydra discovers it in the ``hydra_plugins`` namespace package once the project is
installed: ``python run.py -m hydra/sweeper=optuna ...``.
"""
