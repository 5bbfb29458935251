"""Read the LAG release (one pickle of `[fileName, lyrics, mfcc, genre, genreIdx]` samples) safely.

A pickle can run any code when loaded. This unpickler resolves only an allow-list of globals:
builtin containers and scalars need none; numpy array and scalar reconstruction; and, only when
pandas is installed, the classes a pickled DataFrame needs. Any other global (`os.system`,
`builtins.eval`, `subprocess.Popen`, ...) stops the load with `UnsafePickleError` before it runs.
"""

from __future__ import annotations

import importlib
import io
import pickle
from pathlib import Path

from ..errors import DataError, UnsafePickleError

_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}
_NUMPY_DTYPES = ("numpy.dtypes",)  # numpy 2 pickles dtype classes such as numpy.dtypes.Float64DType
_BUILTINS = {("builtins", n) for n in ("list", "dict", "tuple", "set", "frozenset", "str",
                                       "int", "float", "complex", "bool", "slice", "object")}
_SIZED = {("builtins", "bytes"), ("builtins", "bytearray")}  # called with a size they would allocate it: guarded
_COLLECTIONS = {("collections", "OrderedDict"), ("copyreg", "_reconstructor")}
_PANDAS_MODULES = ("pandas", "pandas.arrays")
_PANDAS_PREFIXES = ("pandas.core.", "pandas._libs.")
_PANDAS_NAMES = {
    "DataFrame", "Series", "BlockManager", "SingleBlockManager", "Index", "RangeIndex", "_new_Index",
    "_unpickle_block", "new_block", "ObjectBlock", "NumericBlock", "FloatBlock", "IntBlock", "Block",
    "NumpyBlock", "Int64Index", "BlockPlacement", "_new_DatetimeIndex", "StringDtype", "ArrowStringArray",
    "StringArray", "NDArrayBacked", "_new_object", "__pyx_unpickle_NDArrayBacked", "ArrowDtype",
    "Categorical", "CategoricalDtype", "CategoricalIndex", "_new_CategoricalIndex",
}


def _pandas_available() -> bool:
    try:
        importlib.import_module("pandas")
    except ImportError:
        return False
    return True


def _latin1_bytes(text, encoding="utf-8", errors="strict"):
    """What protocols 0-2 pickle `bytes` as: `_codecs.encode(str, 'latin1')` (numpy arrays' raw
    data among them). Only that exact use is allowed: a latin-1 string turned back into bytes."""
    if not isinstance(text, str) or str(encoding).lower().replace("-", "").replace("_", "") not in ("latin1", "iso88591"):
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {str(encoding)[:40]!r}: a LAG pickle only ever encodes "
                                "bytes as latin-1 text; nothing from the file was run")
    return text.encode("latin-1")


_PY2_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _guarded(kind):
    """`bytes` / `bytearray` as a pickle may call them: from data it holds, never from a size (a
    35-byte file asking for `bytearray(800000000)`)."""
    def build(*args):
        if any(isinstance(a, int) for a in args[:1]):
            raise UnsafePickleError(f"refusing {kind.__name__}({str(args[0])[:20]}): a LAG pickle never asks for memory by "
                                    "size; nothing from the file was run")
        return kind(*args)
    return build


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = _PY2_NAMES.get(module, module)  # protocols 0-2 name builtins as Python 2 did
        key = (module, name)
        if key == ("_codecs", "encode"):
            return _latin1_bytes
        if key in _SIZED:
            return _guarded(bytes if name == "bytes" else bytearray)
        allowed = (
            key in _NUMPY
            or key in _BUILTINS
            or key in _COLLECTIONS
            or (module.startswith(_NUMPY_DTYPES) and name.endswith("DType"))
            or ((module in _PANDAS_MODULES or module.startswith(_PANDAS_PREFIXES)) and name in _PANDAS_NAMES
                and _pandas_available())
        )
        if not allowed:
            hint = " (install pandas to read a pickled DataFrame)" if module.startswith("pandas") else ""
            raise UnsafePickleError(
                f"refusing to unpickle global '{module}.{name}'{hint}: a LAG pickle holds only lists, dicts, "
                "strings, numbers and numpy arrays; nothing from the file was run"
            )
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core.") :] if _has_numpy_core_underscore() else module
        return getattr(importlib.import_module(module), name)


def _has_numpy_core_underscore() -> bool:
    try:
        importlib.import_module("numpy._core.multiarray")
    except ImportError:
        return False
    return True


def load_lag_pickle(path: str | Path) -> object:
    """Unpickle with the allow-list; returns the raw container."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"LAG pickle '{path}' does not exist")
    data = path.read_bytes()
    if not data:
        raise DataError(f"LAG pickle '{path}' is empty")
    try:
        return RestrictedUnpickler(io.BytesIO(data)).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated or not a pickle
        raise DataError(
            f"'{path}' is not a readable pickle ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}); "
            "the file is corrupt or truncated: download it again"
        ) from None
