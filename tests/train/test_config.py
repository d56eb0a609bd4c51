import pytest

from mv2search.train.config import TrainerConfig, recipe_lr_wd


def test_recipe_table_rows_and_interpolation():
    assert recipe_lr_wd(0.5) == (0.009, 0.004)
    assert recipe_lr_wd(2.0) == (0.002, 0.05)
    lr, wd = recipe_lr_wd(0.875)
    assert lr == pytest.approx((0.009 + 0.0075) / 2) and wd == pytest.approx((0.008 + 0.013) / 2)
    assert recipe_lr_wd(0.25) == recipe_lr_wd(0.5) and recipe_lr_wd(3.0) == recipe_lr_wd(2.0)


@pytest.mark.parametrize(("scaling", "factor"), [("sqrt", 0.25), ("linear", 1 / 16), ("none", 1.0)])
def test_table_lr_moves_with_the_batch(scaling, factor):
    lr, wd = TrainerConfig(batch_size=64, lr_scaling=scaling).peak_lr_and_decay(1.0)
    assert lr == pytest.approx(0.0075 * factor) and wd == 0.013


def test_explicit_lr_and_decay_win():
    assert TrainerConfig(lr=0.1, weight_decay=0.0).peak_lr_and_decay(0.5) == (0.1, 0.0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 0, "trainer.epochs=0: must be a positive integer"),
        ("precision", "fp16", "trainer.precision='fp16': allowed values are auto, fp32, bf16"),
        ("lr_scaling", "cubic", "allowed values are sqrt, linear, none"),
        ("subset", 1.5, r"trainer.subset=1.5: must be a fraction in \(0, 1\]"),
        ("label_smoothing", 1.0, r"trainer.label_smoothing=1.0: must lie in \[0, 1\)"),
        ("max_minutes", -1.0, "trainer.max_minutes=-1.0: must be positive or null"),
    ],
)
def test_bad_settings_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**{field: value})


def test_load_trainer_reads_the_group_files_without_hydra(tmp_path):
    from mv2search.train.config import load_trainer

    proxy = load_trainer("proxy")
    assert proxy.name == "proxy" and proxy.image_size == 64
    assert load_trainer("full").epochs == 300
    rungs = load_trainer("rungs")  # the multi-fidelity recipe: measured in steps, a prefix ladder
    assert rungs.measured_in_steps and rungs.schedule == "wsd" and rungs.batch_size == 64
    listed = r"\['full', 'proxy', 'reference', 'rungs', 'search'\]"
    with pytest.raises(ValueError, match=r"trainer 'quick': no file .* " + listed):
        load_trainer("quick")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearning_rate: 0.1\n")
    with pytest.raises(ValueError, match="bad.yaml: unknown trainer keys \\['learning_rate'\\]"):
        load_trainer(str(bad))
