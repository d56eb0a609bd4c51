"""Hydra configs (YAML data; this file makes the folder importable for Hydra pkg:// paths)."""
