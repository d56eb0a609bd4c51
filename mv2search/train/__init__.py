"""Training: the recipe and budgets, the loop with exact resume, failures as results, DDP."""

from mv2search.train.config import TrainerConfig, load_trainer, recipe_lr_wd
from mv2search.train.loop import TrainRun, train
from mv2search.train.result import TrainResult
from mv2search.train.run import TrainAppConfig, default_run_dir, run_train

__all__ = [
    "TrainAppConfig",
    "TrainRun",
    "TrainResult",
    "TrainerConfig",
    "default_run_dir",
    "load_trainer",
    "recipe_lr_wd",
    "run_train",
    "train",
]
