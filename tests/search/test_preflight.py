"""`mv2search.search.preflight` and the checks a search makes before its study exists."""

import pytest
import yaml

from mv2search.apps.entry import run_checked
from mv2search.apps.search import APP
from mv2search.cost.device import DeviceProfile
from mv2search.search.preflight import cheapest, check_budgets, check_device
from mv2search.search.settings import build_objectives
from mv2search.search.space import SearchSpace, load_space, spaces_dir
from tests.search.conftest import TINY, compose_search, search_config


def _mv2_subspace() -> SearchSpace:
    """mv2 with some parameters fixed: 4,725 points of its coordinates, few enough to
    enumerate."""
    data = yaml.safe_load((spaces_dir() / "mv2.yaml").read_text())
    keep = {"width_multiplier", "image_size", "ir_depths.1", "attn_blocks.0", "attn_types.0"}
    keep |= {"ffn_multiplier"}
    data["parameters"] = [p for p in data["parameters"] if p["name"] in keep]
    return SearchSpace.from_dict({"name": "mv2_sub", **data})


@pytest.mark.parametrize("space", [load_space("mv2_attention"), load_space("mv2_global"), None])
@pytest.mark.parametrize("metric", ["gmacs", "mparams"])
def test_the_descent_finds_the_enumerated_minimum(space, metric):
    space = space or _mv2_subspace()
    exact_spec, exact = cheapest(space, metric, enumerate_up_to=5000)  # enumerated
    found_spec, found = cheapest(space, metric, enumerate_up_to=0)  # coordinate descent
    assert found == exact and found_spec.signature == exact_spec.signature


def test_an_impossible_budget_names_the_cheapest_spec_and_the_smallest_value():
    space = load_space("mv2")
    _, value = cheapest(space, "gmacs")
    assert value == pytest.approx(0.055681536)  # width 0.5, 128 px, one block a stage
    objectives = build_objectives(search_config(TINY, "runs").objectives)
    check_budgets(space, objectives)  # 0.3 GMACs: fine
    tight = build_objectives(
        search_config([*TINY, "objectives.budgets.gmacs=0.0001"], "runs").objectives
    )
    with pytest.raises(ValueError) as err:
        check_budgets(space, tight)
    assert str(err.value).startswith("objectives.budgets.gmacs: 0.0001 is below the cheapest")
    assert str(err.value).endswith("the smallest feasible value is 0.05569")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("objectives.budgets.gmacs=0.0001", "objectives.budgets.gmacs: 0.0001 is below"),
        ("+objectives.budgets.mparams=0.01", "objectives.budgets.mparams: 0.01 is below"),
        ("data=folder", "data.source"),
        ("evaluator.torch_device=cuda", "evaluator.torch_device: 'cuda'"),
    ],
)
def test_bad_input_is_refused_before_a_study_exists(override, message, tmp_path, capsys):
    extra = [override] + (["data.source=" + str(tmp_path / "none")] if "folder" in override else [])
    cfg = compose_search([*TINY, *extra, f"runs_dir={tmp_path}"])
    if "cuda" in override:
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    assert run_checked(APP, cfg) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("study.*"))


def test_an_empty_data_folder_is_refused_naming_it(tmp_path, capsys):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    cfg = compose_search([*TINY, "data=folder", f"data.source={tmp_path / 'images'}"])
    assert run_checked(APP, cfg) == 2
    err = capsys.readouterr().err
    assert "data.source: class folders without images" in err and "cat" in err


def test_a_cuda_latency_profile_without_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cuda = DeviceProfile(name="cuda", backend="cuda")
    with pytest.raises(ValueError, match="device: profile 'cuda' measures on CUDA"):
        check_device(cuda, ("accuracy", "latency_ms"), "auto")
    check_device(cuda, ("accuracy", "gmacs"), "auto")  # latency not measured: no matter


def test_relaxing_a_refused_budget_runs(tmp_path):
    from mv2search.search.runner import SearchWorker

    with pytest.raises(ValueError, match="is below the cheapest"):
        SearchWorker(search_config([*TINY, "objectives.budgets.gmacs=0.0001"], tmp_path))
    assert not list(tmp_path.rglob("study.*"))
    SearchWorker(search_config(TINY, tmp_path))  # the fix is not refused as a settings change
