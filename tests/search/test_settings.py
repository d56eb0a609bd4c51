"""`mv2search.search.settings`: what a search stores with its study, and rebuilding it."""

from mv2search.search.runner import SearchWorker
from mv2search.search.settings import rebuild_study
from mv2search.study.store import StudyStore
from tests.search.conftest import TINY, search_config


def test_a_stored_study_rebuilds_the_objectives_trainer_and_data_of_its_search(tmp_path):
    worker = SearchWorker(search_config(TINY, tmp_path))
    stored = rebuild_study(StudyStore.read(worker.out_dir).settings)
    assert stored.objectives == worker.objectives
    assert [(b.metric, b.max_value) for b in stored.objectives.budgets] == [("gmacs", 0.3)]
    assert stored.training == worker.evaluator.training  # trainer, data source, options, seed
    assert stored.training.data_options.embedded_train_size == 100
    assert stored.evaluator.resolution_scale == worker.cfg.evaluator.resolution_scale
    assert stored.evaluator.latency == "measured" and stored.device == "cpu_eager_1t"
