"""Data sets held in memory as tensors: MNIST from its idx files, and batching."""

from reparam.data._idx import IdxFormatError as IdxFormatError
from reparam.data._idx import read_idx_bytes as read_idx_bytes
from reparam.data._idx import write_idx as write_idx
from reparam.data._mnist_files import MNIST_FILES as MNIST_FILES
from reparam.data._mnist_files import DataError as DataError
from reparam.data.batches import TARGETS as TARGETS
from reparam.data.batches import iterate_batches as iterate_batches
from reparam.data.batches import present as present
from reparam.data.examples import Examples as Examples
from reparam.data.examples import ImageExamples as ImageExamples
from reparam.data.examples import TensorExamples as TensorExamples
from reparam.data.mnist import ENV_VAR as ENV_VAR
from reparam.data.mnist import MNIST as MNIST
from reparam.data.mnist import load_mnist as load_mnist

__all__ = [
    "ENV_VAR",
    "MNIST",
    "MNIST_FILES",
    "TARGETS",
    "DataError",
    "Examples",
    "IdxFormatError",
    "ImageExamples",
    "TensorExamples",
    "iterate_batches",
    "load_mnist",
    "present",
    "read_idx_bytes",
    "write_idx",
]
