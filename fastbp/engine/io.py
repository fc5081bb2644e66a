"""fastbp's model file: a ``.npz`` archive of plain arrays, never pickles.

A network file holds these arrays (``format_version`` 1 or 2):

==================  =========  ====================================================
name                dtype      meaning
==================  =========  ====================================================
format              str        ``"fastbp-network"``
format_version      int64      1, or 2 where ``hidden_activation`` is 1-d
fastbp_version      str        the version that wrote the file
sizes               int64      ``n_0 .. n_L``
hidden_activation   str        sigma_l of the hidden layers: one name (shape ()), or
                               one per hidden layer (shape (L-1,), version 2)
output_activation   str        sigma_L
cost                str        the cost's name
l2                  float64    lambda
theta               float32/64 all parameters, laid out as in :mod:`fastbp.numerics.layout`
rng_state           uint64     the shuffling generator's state, shape (1,)
loss_curve          float64    the cost of each epoch trained
==================  =========  ====================================================

Optional arrays, written by ``fastbp train --save`` so that ``fastbp predict``
can map outputs back to labels and columns (:mod:`fastbp.cli.predictor`):

==================  =========  ====================================================
classes             any 1-d    class labels, in the order of the output units
                               (absent for a regression model)
input_names         str, 1-d   the names of the ``n_0`` input columns
target_name         str        the name of the target column
target_column       int64      its index in the training file's columns
==================  =========  ====================================================

and, written by :meth:`fastbp.Network.save` for a network whose cost takes a parameter:

==================  =========  ====================================================
huber_epsilon       float64    Huber's epsilon (``cost`` ``"huber"``)
==================  =========  ====================================================

Version rule: a reader accepts every ``format_version`` up to its own
:data:`FORMAT_VERSION`, and a writer writes the oldest version that holds the
network (:func:`format_version`), so that older readers read every file they
can and refuse the others by their version.  The version changes when an
array is added to the required set, removed, or changes meaning, dtype or
shape; optional arrays can be added without a new version, as readers ignore
arrays they do not know.  Version 2 lets ``hidden_activation`` hold one name
per hidden layer.

Files are written atomically (a temporary file in the same folder, then a
rename), so a crash never leaves half a model behind, and read with
``allow_pickle=False``, so loading never executes code.  Before any array is
read, every header in the archive is checked: an object dtype (a pickle) or
a shape that declares more data than the file holds is refused, so a
hand-edited header cannot make loading allocate memory for data that is not there.
"""

import math
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastbp-network"
# The newest format version: this fastbp reads versions 1 .. FORMAT_VERSION.
FORMAT_VERSION = 2

# .npy format version -> its header reader (np.savez writes 1.0; 2.0 for headers over 64 KiB)
HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}

# name -> (allowed dtype kinds, number of dimensions or a tuple of those allowed)
SCHEMA = {
    "format": ("U", 0),
    "format_version": ("i", 0),
    "fastbp_version": ("U", 0),
    "sizes": ("i", 1),
    "hidden_activation": ("U", (0, 1)),
    "output_activation": ("U", 0),
    "cost": ("U", 0),
    "l2": ("f", 0),
    "theta": ("f", 1),
    "rng_state": ("u", 1),
    "loss_curve": ("f", 1),
}
# the optional arrays, checked when present
OPTIONAL = {
    "classes": ("biufU", 1),
    "input_names": ("U", 1),
    "target_name": ("U", 0),
    "target_column": ("i", 0),
    "huber_epsilon": ("f", 0),
}


def format_version(hidden_activation: np.ndarray) -> int:
    """The oldest format version that holds ``hidden_activation``: 1 for one name, 2 for one name per hidden layer."""
    return 1 if hidden_activation.ndim == 0 else 2


def save_arrays(path, arrays: dict) -> None:
    """Write ``arrays`` to ``path`` as an uncompressed ``.npz``, atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".fastbp-", suffix=".npz.tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def check_declared_arrays(path) -> None:
    """Read the header of every array in the archive, and refuse what np.load should not try to read.

    A ``.npy`` header declares a shape and a dtype; a hand-edited one may
    declare far more data than the file holds (np.load would allocate it
    first) or an object dtype (a pickle, which is never loaded).
    """
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in HEADER_READERS:
                    raise ValueError(f"{info.filename} is a .npy file of format {version}, which fastbp never writes")
                shape, _, dtype = HEADER_READERS[version](member)
                declared = math.prod(shape) * dtype.itemsize
                held = info.file_size - member.tell()
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds Python objects (a pickle), which fastbp never loads")
            if declared > held:
                raise ValueError(
                    f"{info.filename} declares shape {shape} of {dtype} ({declared:,} bytes) but holds {held:,} bytes"
                )


def load_arrays(path) -> dict:
    """Read and check a network file; a ``ValueError`` names whatever is wrong with it."""
    path = os.fspath(path)
    try:
        check_declared_arrays(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        raise ValueError(f"{path} is not a readable fastbp model file: {error}") from error
    missing = [name for name in SCHEMA if name not in arrays]
    if missing:
        raise ValueError(f"{path} is not a complete fastbp model file: missing {', '.join(missing)}")
    for name, (kinds, ndim) in (SCHEMA | {name: OPTIONAL[name] for name in OPTIONAL if name in arrays}).items():
        value = arrays[name]
        if value.dtype.kind not in kinds or value.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
            raise ValueError(
                f"{path}: {name!r} has dtype {value.dtype} and {value.ndim} dimension(s), "
                "which a fastbp model file never has"
            )
    if str(arrays["format"]) != FORMAT:
        raise ValueError(f"{path} is not a fastbp network file (format {str(arrays['format'])!r})")
    version = int(arrays["format_version"])
    if not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"{path} has format version {version}; this fastbp reads versions 1 to {FORMAT_VERSION}")
    if version < format_version(arrays["hidden_activation"]):
        raise ValueError(f"{path}: one hidden_activation per hidden layer needs format version 2, not {version}")
    return arrays
