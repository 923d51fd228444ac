"""The book's training recipe is named once and is TrainConfig's default."""

import pytest

from georecall.train import loop as train
from georecall.train import recipe


def test_book_recipe_is_the_default_and_the_documented_values():
    assert train.BOOK_RECIPE is recipe.BOOK_RECIPE and train.TrainConfig is recipe.TrainConfig
    assert recipe.TrainConfig() == recipe.BOOK_RECIPE
    r = recipe.BOOK_RECIPE
    assert (r.lr, r.weight_decay, r.max_steps, r.eval_every, r.target_accuracy) == (1e-2, 0.0, 2048, 128, 0.99)


@pytest.mark.parametrize("kwargs", [dict(lr=0), dict(max_steps=0), dict(target_accuracy=1.5), dict(weight_decay=-1)])
def test_bad_train_config(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        recipe.TrainConfig(**kwargs)
