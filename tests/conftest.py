"""Shared fixtures: schedules, seeded generators and the real dataset."""

import importlib
import os

import pytest
import torch

import ddpm_lib as dl


@pytest.fixture
def sched():
    """The paper's schedule: linear 1e-4 → 0.02 over T = 1000 steps."""
    return dl.linear_schedule()


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(0)


def require(module: str):
    """Import ``module``; skip without it, except on CI, where it fails."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture(scope="session")
def fashion_mnist_test():
    """The real Fashion-MNIST test split; CI never skips for lack of it."""
    try:
        return dl.load_images("fashion_mnist", split="test", download=False)
    except dl.DataNotFoundError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"Fashion-MNIST is not installed: {error}")


def all_schedules(T=1000):
    return {
        "linear": dl.linear_schedule(T),
        "cosine": dl.cosine_schedule(T),
        "quadratic": dl.quadratic_schedule(T),
        "sigmoid": dl.sigmoid_schedule(T),
    }
