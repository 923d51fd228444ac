import math

import pytest
import torch

from georecall.readout import Readout


def _reference(W_U, resid, target):
    logits = resid @ W_U  # [B, V]
    right = logits.gather(1, target[:, None])[:, 0]
    wrong = logits.scatter(1, target[:, None], -math.inf).amax(1)
    return right - wrong


@pytest.mark.parametrize(("V", "B", "tile", "block"), [(50, 33, 16, 8), (64, 64, 64, 64), (37, 5, 100, 2), (2, 1, 1, 1)])
def test_margins_equal_the_full_logit_computation(V, B, tile, block):
    g = torch.Generator().manual_seed(V + B)
    W_U = torch.randn(12, V, generator=g, dtype=torch.float64)
    W_U[[0, 5, 7]] = 0.0  # coordinates the readout ignores
    resid = torch.randn(B, 12, generator=g, dtype=torch.float64)
    target = torch.randint(0, V, (B,), generator=g)
    readout = Readout.of(W_U, tile=tile, block=block)
    assert readout.rows.tolist() == [i for i in range(12) if i not in (0, 5, 7)]
    got = readout.margins(resid, target)
    assert got.dtype == torch.float64 and got.shape == (B,)
    assert torch.allclose(got, _reference(W_U, resid, target), rtol=0, atol=1e-12)


def test_a_tie_is_a_zero_margin_and_a_wrong_argmax_is_negative():
    W_U = torch.tensor([[1.0, 1.0, 0.0, -1.0]])  # attributes 0 and 1 tie for any positive x
    resid = torch.tensor([[2.0], [2.0], [-1.0]])
    margins = Readout.of(W_U, tile=2, block=2).margins(resid, torch.tensor([0, 2, 3]))
    assert margins.tolist() == [0.0, -2.0, 1.0]  # logits (-1, -1, 0, 1): 1 - 0


def test_bad_tile_is_refused():
    with pytest.raises(ValueError, match="tile"):
        Readout.of(torch.ones(2, 3), tile=0)
