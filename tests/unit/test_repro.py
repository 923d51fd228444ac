import pytest
import torch

from georecall import repro


def test_streams_are_stable_and_independent():
    assert repro.stream_seed(3, "init") == repro.stream_seed(3, "init")
    assert repro.stream_seed(3, "init") != repro.stream_seed(3, "task")
    assert repro.stream_seed(3, "init") != repro.stream_seed(4, "init")
    a = torch.rand(5, generator=repro.generator(1, "data"))
    b = torch.rand(5, generator=repro.generator(1, "data"))
    assert torch.equal(a, b)


def test_numpy_stream():
    assert (repro.numpy_rng(2, "probe").random(4) == repro.numpy_rng(2, "probe").random(4)).all()


def test_reuse_freed_memory_checks_its_arguments():
    import sys

    import pytest

    with pytest.raises(ValueError, match="max_block"):
        repro.reuse_freed_memory(max_block=2**30)
    with pytest.raises(ValueError, match="keep"):
        repro.reuse_freed_memory(keep=0)
    if sys.platform.startswith("linux"):
        assert repro.reuse_freed_memory() is True


def test_torch_threads_restores():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with repro.torch_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == before


def test_flush_denormals_flushes_inside_and_restores_after():
    flushing = repro._flushing_denormals  # half the smallest normal float32 gives 0
    assert not flushing()  # the default: denormals kept
    with repro.flush_denormals() as supported:
        inside = flushing()
    assert not flushing()
    assert inside == supported
    torch.set_flush_denormal(True)  # a caller's own setting survives the block too
    try:
        with repro.flush_denormals():
            pass
        assert flushing() == supported
    finally:
        torch.set_flush_denormal(False)
