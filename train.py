"""Train one architecture: python train.py arch=mobilevitv2_050 data=embedded trainer=proxy

Runs under torchrun too: torchrun --nproc_per_node 2 train.py ... (DistributedDataParallel).
Also installed as `mv2search-train`.
"""

from mv2search.apps.train import cli

if __name__ == "__main__":
    cli()
