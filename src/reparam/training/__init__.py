"""A trainer that knows no model family and no data set, and its generic pieces.

The protocol a model follows (documented on :class:`LatentVariableModel`):

* for :class:`Trainer`: an ``nn.Module`` with ``loss(x) -> [B]``, the
  per-example surrogate whose sum the trainer minimises with Adam (its value in
  ``eval()`` mode is the epoch's test loss); the state goes through
  ``state_dict``/``load_state_dict``, the model's and the trainer's
  (:meth:`Trainer.state_dict`: optimizer, random states, position);
* for :func:`evaluate`'s importance-weighted bound: ``log_weights(x, k) -> [k, B]``;
* for the pictures of image runs (``reparam.runs.pictures``): ``decode``,
  ``encode_mean``, ``sample_prior`` and ``latent_dim``.

The data is any :class:`~reparam.data.Examples` (or a tensor, used as
it is); the metrics go to :class:`Callback` objects as dicts. Runs with a
folder, saved settings, resume and evaluation live a layer above, in
:mod:`reparam.runs`, which also trains models of your own.
"""

from reparam.training._checks import SettingsError as SettingsError
from reparam.training._model import LatentVariableModel as LatentVariableModel
from reparam.training._rng import seeded as seeded
from reparam.training.callbacks import Callback as Callback
from reparam.training.checkpoint import CheckpointError as CheckpointError
from reparam.training.checkpoint import load_checkpoint as load_checkpoint
from reparam.training.checkpoint import save_checkpoint as save_checkpoint
from reparam.training.config import TrainConfig as TrainConfig
from reparam.training.evaluation import Evaluation as Evaluation
from reparam.training.evaluation import evaluate as evaluate
from reparam.training.evaluation import mean_loss as mean_loss
from reparam.training.evaluation import mean_neg_iw_bound as mean_neg_iw_bound
from reparam.training.trainer import Trainer as Trainer
from reparam.training.trainer import TrainingDiverged as TrainingDiverged

__all__ = [
    "Callback",
    "CheckpointError",
    "Evaluation",
    "LatentVariableModel",
    "SettingsError",
    "TrainConfig",
    "Trainer",
    "TrainingDiverged",
    "evaluate",
    "load_checkpoint",
    "mean_loss",
    "mean_neg_iw_bound",
    "save_checkpoint",
    "seeded",
]
