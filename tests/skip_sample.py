"""Tests that skip, run by tests/test_skip_summary.py in a pytest of their own
(the suite does not collect this file: its name is no ``test_*.py``)."""

import pytest


@pytest.mark.parametrize("n", range(3))
def test_needs_a(n):
    pytest.importorskip("nnarray_sample_missing_a")


def test_needs_a_submodule():
    pytest.importorskip("nnarray_sample_missing_a.sub")


def test_needs_b():
    pytest.skip("nnarray_sample_missing_b is not installed")


@pytest.mark.skip(reason="torch on cuda:0: no CUDA device here")
def test_a_case_of_the_matrix():
    raise AssertionError("skipped")


def test_runs():
    assert sum(range(4)) == 6
