"""A recipe's length in the report's words: steps for a run measured in steps, else epochs."""

from dataclasses import asdict

from mv2search.report.confirmation import budget_words
from mv2search.train import load_trainer


def test_a_step_measured_recipe_reads_in_steps_and_an_epoch_one_in_epochs():
    assert budget_words(asdict(load_trainer("reference"))) == "250 steps"
    stopped = asdict(load_trainer("reference")) | {"max_steps": 125}
    assert budget_words(stopped) == "125 steps"  # a run stopped at a rung
    assert budget_words(asdict(load_trainer("search"))) == "2 epochs"
    assert budget_words({"epochs": 3, "batch_size": 64}) == "3 epochs"  # an older file
