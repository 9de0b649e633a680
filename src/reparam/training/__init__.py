"""Training, evaluating and picturing latent-variable models of images: generic pieces.

Plugging in a new model (e.g. a VAE with discrete latents):

1. Subclass :class:`LatentVariableModel` (an ``nn.Module``) and implement

   * ``loss(x) -> [B]``: per-example surrogate whose value is a one-sample
     ``-ELBO`` estimate and whose gradient is your estimator's (build it with
     :func:`reparam.expectation`);
   * ``log_weights(x, k) -> [k, B]``: ``log p(x, z) - log q(z | x)`` for ``k``
     posterior samples (used for the importance-weighted bound);
   * ``decode(z) -> [*, D]`` pixel means, ``encode_mean(x) -> [B, latent_dim]``,
     ``sample_prior(n) -> [n, latent_dim]``;

   and set ``latent_dim`` (and ``continuous_latents = False`` for discrete codes).
   ``x`` is ``[B, D]`` float in [0, 1]: intensities or binarized pixels, see
   :func:`reparam.data.present`. Draw noise from the global torch generator.
2. Train it with :class:`Trainer` (checkpoints, exact resume, Ctrl-C, NaN stop,
   progress bar, metrics), evaluate with :func:`evaluate`, draw with
   :func:`save_pictures`; or reuse the whole command line through
   ``reparam.cli._training`` (see ``reparam.cli.vae`` for a 40-line example).

Run folders (:mod:`reparam.training.run_folder`) hold ``config.json``,
``checkpoint.pt``, ``metrics.jsonl``, ``summary.json`` and the pictures.
"""

from reparam.training._model import LatentVariableModel as LatentVariableModel
from reparam.training._rng import seeded as seeded
from reparam.training.checkpoint import CheckpointError as CheckpointError
from reparam.training.checkpoint import load_checkpoint as load_checkpoint
from reparam.training.checkpoint import save_checkpoint as save_checkpoint
from reparam.training.config import TrainConfig as TrainConfig
from reparam.training.evaluation import Evaluation as Evaluation
from reparam.training.evaluation import evaluate as evaluate
from reparam.training.evaluation import mean_loss as mean_loss
from reparam.training.evaluation import mean_neg_iw_bound as mean_neg_iw_bound
from reparam.training.pictures import save_pictures as save_pictures
from reparam.training.run_folder import RunFolder as RunFolder
from reparam.training.run_folder import RunFolderError as RunFolderError
from reparam.training.run_folder import existing_run_folder as existing_run_folder
from reparam.training.run_folder import new_run_folder as new_run_folder
from reparam.training.trainer import Trainer as Trainer
from reparam.training.trainer import TrainingDiverged as TrainingDiverged
