import itertools

import torch

from mv2search.cost.predictor import block_counts
from mv2search.search import SearchSpace, load_space
from mv2search.search.cover import covering_specs

TINY_SPACE = {
    "name": "tiny",
    "base": "mobilevitv2_050",
    "fixed": {"num_classes": 10},
    "parameters": [
        {"name": "image_size", "type": "int", "bounds": [64, 72], "step": 2},
        {"name": "ir_depths.1", "type": "int", "bounds": [1, 3]},
        {"name": "attn_blocks.0", "type": "int", "bounds": [0, 2]},
        {"name": "attn_blocks.2", "type": "int", "bounds": [0, 1]},
        {"name": "attn_types.0", "type": "choice", "values": ["separable", "mha"]},
        {"name": "attn_types.2", "type": "choice", "values": ["separable", "additive"]},
    ],
}


def _every_spec(space: SearchSpace):
    grids = [[p.encode_value(v) for v in p.grid()] for p in space.parameters]
    for point in itertools.product(*grids):
        yield space.decode(torch.tensor(point, dtype=torch.float64))


def test_cover_contains_every_block_of_an_exhaustive_space():
    space = SearchSpace.from_dict(TINY_SPACE)
    cover = set().union(*(block_counts(s) for s in covering_specs(space)))
    everything = set().union(*(block_counts(s) for s in _every_spec(space)))
    assert everything <= cover  # odd sizes (66, 70) make 'no attention' change later blocks


def test_cover_of_the_shipped_spaces_contains_sampled_blocks():
    for name in ("mv2_attention", "mv2_global"):
        space = load_space(name)
        cover = set().union(*(block_counts(s) for s in covering_specs(space)))
        sampled = set().union(*(block_counts(s) for s in space.sample(200, seed=3)))
        assert sampled <= cover
