"""The confirmation recipe read without Hydra is the one `confirm.py` composes; bad overrides and
names fail naming them. (Training through `train_specs` is tested by `test_run.py`, via
`run_confirm`, and by the scaling study's trained comparison, tests/scaling/test_app.py.)"""

import dataclasses

import pytest
from omegaconf import OmegaConf

from mv2search.arch import PRESETS
from mv2search.confirm import ConfirmRecipe, load_recipe, train_specs
from mv2search.confirm.recipe import confirm_evaluator
from mv2search.cost.device import DeviceProfile
from mv2search.data import DataOptions
from mv2search.search.evaluator import Evaluator
from mv2search.search.settings import EvaluatorConfig, TrainingSetup
from mv2search.train import load_trainer
from tests.confirm.conftest import compose_confirm


def test_load_recipe_is_what_confirm_py_composes():
    cfg = OmegaConf.to_object(compose_confirm(["run=runs/x"]))
    sizes = cfg.embedded_train_size, cfg.embedded_val_size
    assert load_recipe() == ConfirmRecipe(cfg.trainer, cfg.resolution_scale, *sizes)
    assert load_recipe().trainer.name == "reference"


def test_overrides_apply_on_top():
    recipe = load_recipe(["trainer.schedule_steps=20", "resolution_scale=0.5"])
    assert recipe.trainer.schedule_steps == 20 and recipe.resolution_scale == 0.5
    assert dataclasses.replace(recipe.trainer, schedule_steps=250) == load_recipe().trainer
    assert load_recipe(["embedded_train_size=200"]).embedded_train_size == 200


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.epoch=1"], "trainer.epoch: Key 'epoch' not in 'TrainerConfig'"),
        (["trainer.epochs=many"], "trainer.epochs: Value 'many'"),
        (["scale=1"], "scale: Key 'scale' not in 'ConfirmRecipe'"),
        (["resolution_scale=0"], "resolution_scale: 0.0; allowed: a number > 0"),
        (["embedded_train_size=25"], "embedded_train_size: 25; allowed: a positive multiple of 10"),
        (["embedded_val_size=0"], "embedded_val_size: 0; allowed: a positive multiple of 10"),
        (["epochs"], "overrides[0]: 'epochs'; expected key=value"),
    ],
)
def test_bad_override_is_an_error_naming_it(overrides, message):
    with pytest.raises(ValueError, match="allowed|expected") as err:
        load_recipe(overrides)
    assert message in str(err.value)


def test_a_name_listed_twice_is_refused_before_training():
    spec = PRESETS["mobilevitv2_050"]
    with pytest.raises(ValueError, match=r"specs: names \['a'\] listed twice"):
        train_specs(None, [("a", spec), ("a", spec)])


@pytest.mark.parametrize("source", ["embedded", "folder"])
def test_the_confirmation_trains_on_the_recipes_images_of_the_embedded_set(source, tmp_path):
    """The reference's 10,000 / 1,000 embedded images replace a study's 2,000; a folder study
    keeps its own data. Trainer and resolution scale are the recipe's, the rest the study's."""
    source = "embedded" if source == "embedded" else str(tmp_path)
    options = DataOptions(embedded_train_size=2000, embedded_val_size=500, subset=0.5)
    training = TrainingSetup(load_trainer("search"), source, options, seed=3)
    study = Evaluator(
        ("accuracy",), training, DeviceProfile(name="unused"), EvaluatorConfig(), tmp_path
    )
    recipe = load_recipe()
    full = confirm_evaluator(study, recipe)
    got = full.training.data_options
    sizes = (got.embedded_train_size, got.embedded_val_size)
    assert sizes == ((10_000, 10_000) if source == "embedded" else (2000, 500))
    assert got.subset == 0.5 and full.training.seed == 3 and full.training.data_source == source
    assert full.training.trainer == recipe.trainer and full.settings.resolution_scale == 0.25
