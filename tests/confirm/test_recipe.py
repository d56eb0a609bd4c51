"""The confirmation recipe read without Hydra is the one `confirm.py` composes; bad overrides and
names fail naming them. (Training through `train_specs` is tested by `test_run.py`, via
`run_confirm`, and by the scaling study's trained comparison, tests/scaling/test_app.py.)"""

import dataclasses

import pytest
from omegaconf import OmegaConf

from mv2search.arch import PRESETS
from mv2search.confirm import ConfirmRecipe, load_recipe, train_specs
from tests.confirm.conftest import compose_confirm


def test_load_recipe_is_what_confirm_py_composes():
    cfg = OmegaConf.to_object(compose_confirm(["run=runs/x"]))
    assert load_recipe() == ConfirmRecipe(cfg.trainer, cfg.resolution_scale)
    assert load_recipe().trainer.name == "full"


def test_overrides_apply_on_top():
    recipe = load_recipe(["trainer.epochs=1", "resolution_scale=0.5"])
    assert recipe.trainer.epochs == 1 and recipe.resolution_scale == 0.5
    assert dataclasses.replace(recipe.trainer, epochs=3) == load_recipe().trainer


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.epoch=1"], "trainer.epoch: Key 'epoch' not in 'TrainerConfig'"),
        (["trainer.epochs=many"], "trainer.epochs: Value 'many'"),
        (["scale=1"], "scale: Key 'scale' not in 'ConfirmRecipe'"),
        (["resolution_scale=0"], "resolution_scale: 0.0; allowed: a number > 0"),
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
