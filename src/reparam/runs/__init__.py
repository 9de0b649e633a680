"""Training runs: the application layer above :mod:`reparam.models` and :mod:`reparam.training`.

A run is a folder (:mod:`reparam.runs.folder`, locked by one writer:
:mod:`reparam.runs.lock`) holding its settings (``config.json``, the format of
``reparam.runs.settings``), its checkpoint, ``metrics.jsonl``, a
``summary.json`` and pictures. :func:`train`, :func:`resume` and
:func:`evaluate_run` carry runs out (how: an :class:`Execution`), and
:func:`load_model` gives back a trained model:

>>> settings = RunSettings(model="vae", options={"latent_dim": 2}, train=TrainConfig(epochs=1))
>>> settings.train.epochs, settings.options["latent_dim"]
(1, 2)

``train(settings, "runs/small")`` trains the built-in family ``vae`` on MNIST
(``DataSettings.folder`` or ``$REPARAM_DATA_DIR``); ``resume("runs/small",
epochs=5)`` continues it, ``evaluate_run("runs/small")`` re-evaluates it, and
``load_model("runs/small")`` returns the model in evaluation mode.

A model of your own: any :class:`~reparam.training.LatentVariableModel`
subclass, passed as ``family=`` with its data as ``data=RunData.from_tensors(train,
test)`` to the same calls (see :mod:`reparam.runs._orchestrate`).
"""

from reparam.runs._orchestrate import evaluate_run as evaluate_run
from reparam.runs._orchestrate import load_model as load_model
from reparam.runs._orchestrate import resume as resume
from reparam.runs._orchestrate import train as train
from reparam.runs.data import RunData as RunData
from reparam.runs.execution import Execution as Execution
from reparam.runs.folder import RunFolder as RunFolder
from reparam.runs.folder import RunFolderError as RunFolderError
from reparam.runs.folder import RunFolderExists as RunFolderExists
from reparam.runs.folder import existing_run_folder as existing_run_folder
from reparam.runs.folder import new_run_folder as new_run_folder
from reparam.runs.metrics import MetricsFile as MetricsFile
from reparam.runs.pictures import save_pictures as save_pictures
from reparam.runs.settings import DataSettings as DataSettings
from reparam.runs.settings import RunSettings as RunSettings
from reparam.runs.settings import read_settings as read_settings
from reparam.training import TrainConfig as TrainConfig

__all__ = [
    "DataSettings",
    "Execution",
    "MetricsFile",
    "RunData",
    "RunFolder",
    "RunFolderError",
    "RunFolderExists",
    "RunSettings",
    "TrainConfig",
    "evaluate_run",
    "existing_run_folder",
    "load_model",
    "new_run_folder",
    "read_settings",
    "resume",
    "save_pictures",
    "train",
]
