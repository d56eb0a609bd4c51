"""`evaluator.accuracy=supernet`: candidates scored by their inherited subnets, after BatchNorm
re-estimation, with one supernet trained per space, budgets, data and seed (issue 16)."""

import dataclasses

import pytest
import torch
import yaml

from mv2search.arch.spec import ArchSpec
from mv2search.data import build_datasets
from mv2search.data.loader import EpochSampler
from mv2search.search import supernet_score
from mv2search.search.runner import SearchWorker
from mv2search.search.settings import rebuild_study
from mv2search.search.supernet_score import EVAL_BATCH
from mv2search.supernet_train import proxy_resolution, resize, train_supernet
from mv2search.train.bn import recalibrate_bn
from mv2search.train.distributed import DistContext
from mv2search.train.evaluate import evaluate
from mv2search.train.loop import BN_SEED
from tests.search.conftest import TINY, search_config
from tests.supernet.helpers import TINY_SPACE_YAML

SUPERNET = [
    "evaluator.accuracy=supernet",
    "evaluator.supernet.steps=2",
    "evaluator.supernet.batch_size=20",
    "evaluator.supernet.num_random=1",
    "evaluator.supernet.bn_images=30",  # not a multiple of the batch: a short last batch
    "objectives=accuracy_macs",  # no latency measurement
    "objectives.budgets.gmacs=0.3",  # leaves out part of the tiny space
]


def _config(runs_dir, *extra):
    cfg = search_config([*TINY, *SUPERNET, *extra], runs_dir)
    cfg.space = yaml.safe_load(TINY_SPACE_YAML)  # 64 specs over mobilevitv2_050, 32-48 px
    return cfg


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A 4-trial search scored by the supernet, and its worker."""
    runs = tmp_path_factory.mktemp("runs")
    worker = SearchWorker(_config(runs))
    outcome = worker.run(progress=False)
    return runs, worker, outcome


def _by_hand(worker, spec: ArchSpec) -> float:
    """extract + recalibrate_bn + evaluate, with the images drawn here."""
    scorer = worker.evaluator.scorer
    result = train_supernet(scorer.task(), scorer.cfg, runs_dir=worker.cfg.runs_dir)
    assert result.cached
    training = worker.evaluator.training
    base = proxy_resolution(192, worker.cfg.evaluator.resolution_scale)  # the space's largest
    data = build_datasets(
        "embedded",
        base,
        policy=training.trainer.augment,
        seed=training.seed,
        options=training.data_options,
    )
    data.train.set_epoch(BN_SEED)
    order = list(EpochSampler(len(data.train), seed=training.seed, epoch=BN_SEED, equal=False))
    bn = torch.stack([data.train[i][0] for i in order[:30]]).split(20)
    val = torch.stack([data.val[i][0] for i in range(len(data.val))])
    labels = torch.tensor([data.val[i][1] for i in range(len(data.val))])
    side = proxy_resolution(spec.image_size, worker.cfg.evaluator.resolution_scale)
    model = result.supernet.extract(spec)
    cpu = torch.device("cpu")
    recalibrate_bn(model, [resize(x, side) for x in bn], cpu)
    pairs = zip(val.split(EVAL_BATCH), labels.split(EVAL_BATCH), strict=True)
    batches = [(resize(x, side), y, ()) for x, y in pairs]
    return evaluate(model, batches, DistContext(), cpu)["top1"]


def test_every_candidate_is_scored_by_the_supernet(searched):
    runs, worker, outcome = searched
    records = [r for r in worker.store.records() if r.state == "COMPLETE"]
    assert outcome.n_complete == len(records) == 4 and outcome.n_failed == 0
    for record in records:
        assert 0.0 <= record.metrics["accuracy"] <= 1.0 and record.metrics["score_s"] > 0
        assert "train_s" not in record.metrics
    assert not (runs / "train").exists()  # nothing was proxy-trained
    assert rebuild_study(worker.store.settings).evaluator.accuracy == "supernet"


def test_accuracy_equals_extract_recalibrate_and_evaluate_by_hand(searched):
    _, worker, _ = searched
    for record in worker.store.records():
        spec = ArchSpec.from_dict(record.spec)
        assert record.metrics["accuracy"] == _by_hand(worker, spec)


def test_supernet_is_trained_once_and_shared_by_later_workers(searched):
    runs, worker, _ = searched
    assert len(list((runs / "supernet").glob("*/result.json"))) == 1
    assert worker.evaluator.scorer.supernet().trained_steps == 2  # this worker trained it
    other = SearchWorker(_config(runs, "study=another", "optimizer.n_trials=1"))
    other.run(progress=False)
    assert other.evaluator.scorer.supernet().cached  # the second study read it back
    assert len(list((runs / "supernet").glob("*/result.json"))) == 1


def test_bn_statistics_are_re_estimated_on_the_same_images_for_every_candidate(
    searched, monkeypatch
):
    runs, worker, _ = searched
    seen = []

    def recording(model, batches, device, autocast=False):
        batches = list(batches)
        seen.append(batches)
        return recalibrate_bn(model, batches, device, autocast)

    monkeypatch.setattr(supernet_score, "recalibrate_bn", recording)
    scorer = SearchWorker(_config(runs, "study=third")).evaluator.scorer
    specs = [ArchSpec.from_dict(r.spec) for r in worker.store.records()]
    specs = [min(specs, key=lambda s: s.image_size), max(specs, key=lambda s: s.image_size)]
    specs.append(dataclasses.replace(specs[0], image_size=128))
    for spec in specs:
        scorer.score(spec)
    assert sum(len(x) for x in scorer.bn_batches) == 30
    first = worker.evaluator.scorer.bn_batches  # another worker drew the same images
    assert all(torch.equal(a, b) for a, b in zip(scorer.bn_batches, first, strict=True))
    for spec, batches in zip(specs, seen, strict=True):
        side = proxy_resolution(spec.image_size, 0.25)
        expected = [resize(x, side) for x in scorer.bn_batches]
        assert all(torch.equal(a, b) for a, b in zip(batches, expected, strict=True))


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("evaluator.accuracy=guessed", "evaluator.accuracy: 'guessed'; allowed: ['train'"),
        ("evaluator.supernet.steps=0", "evaluator.supernet.steps=0"),
        ("evaluator.supernet.bn_images=0", "evaluator.supernet.bn_images=0"),
        ("fidelity=asha", "evaluator.accuracy: 'supernet'"),
    ],
)
def test_bad_setting_is_an_error_naming_the_field(override, field, tmp_path):
    with pytest.raises(ValueError, match=field.replace("[", r"\[")):
        SearchWorker(_config(tmp_path, override))
    assert not list(tmp_path.rglob("study.*"))  # refused before a study was created
