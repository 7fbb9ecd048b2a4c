"""Names a package loads on first access (PEP 562) instead of when it is imported.

A package lists each module with the names it provides, and hands its module-level ``__getattr__``
and ``__dir__`` to `LazyNames`. It imports the same names under ``if TYPE_CHECKING:`` as well, for
type checkers and IDEs, and keeps them in ``__all__``.
"""

import importlib
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any


class LazyNames:
    """The lazily loaded names of one package.

    Args:
        namespace: The package's ``globals()``; a loaded name is stored there, so that the next
            access is an ordinary one and does not reach ``__getattr__``.
        modules: Each module, by its absolute name, with the names taken from it.
    """

    def __init__(
        self, namespace: MutableMapping[str, Any], modules: Mapping[str, Iterable[str]]
    ) -> None:
        self._namespace = namespace
        self._modules = {name: module for module, names in modules.items() for name in names}

    def load(self, name: str) -> object:
        """The value of ``name``, importing its module; `AttributeError` for an unknown name."""
        module = self._modules.get(name)
        if module is None:
            package = self._namespace["__name__"]
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        self._namespace[name] = value
        return value

    def names(self) -> list[str]:
        """What ``dir(package)`` lists: what is loaded, and what can be."""
        return sorted(set(self._namespace) | set(self._modules))
