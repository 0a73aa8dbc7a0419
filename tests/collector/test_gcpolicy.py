"""The ingest GC thresholds: raised while a collector runs, never lowered, put back after."""

from __future__ import annotations

import gc

import pytest

from collector.gcpolicy import GcPolicy


@pytest.fixture
def thresholds():
    saved, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_apply_raises_and_restore_puts_back(thresholds):
    policy = GcPolicy((50_000, 20, 10))
    policy.apply()
    assert gc.get_threshold() == (50_000, 20, 10)
    policy.restore()
    assert gc.get_threshold() == (700, 10, 10)


def test_never_lowers_a_larger_threshold(thresholds):
    gc.set_threshold(100_000, 5, 50)
    policy = GcPolicy((50_000, 20, 10))
    policy.apply()
    assert gc.get_threshold() == (100_000, 20, 50)
    policy.restore()
    assert gc.get_threshold() == (100_000, 5, 50)


def test_leaves_a_disabled_collector_alone(thresholds):
    gc.disable()
    policy = GcPolicy((50_000, 20, 10))
    policy.apply()
    policy.restore()
    assert gc.get_threshold() == (700, 10, 10)
    assert not gc.isenabled()


def test_restore_keeps_a_change_made_in_between(thresholds):
    policy = GcPolicy((50_000, 20, 10))
    policy.apply()
    gc.set_threshold(1_000, 10, 10)
    policy.restore()
    assert gc.get_threshold() == (1_000, 10, 10)


def test_the_runtime_applies_it_while_running(thresholds, tmp_path):
    from collector.runtime import CollectorRuntime
    from collector.settings import CollectorSettings

    runtime = CollectorRuntime(CollectorSettings(receivers=False, data_dir=None))
    runtime.start()
    try:
        assert gc.get_threshold()[0] >= 50_000
    finally:
        runtime.shutdown()
    assert gc.get_threshold() == (700, 10, 10)
