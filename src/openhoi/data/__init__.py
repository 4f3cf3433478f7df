"""Datasets: label spaces, annotation readers, transforms, the synthetic benchmark, loaders."""
