"""The package's public face: ``crs_sdk.__all__`` and the package agree."""

import types

import crs_sdk


def test_all_is_sorted() -> None:
    assert crs_sdk.__all__ == sorted(crs_sdk.__all__, key=_ruff_order)


def test_all_has_no_duplicates() -> None:
    assert len(set(crs_sdk.__all__)) == len(crs_sdk.__all__)


def test_every_name_in_all_exists() -> None:
    missing = [name for name in crs_sdk.__all__ if not hasattr(crs_sdk, name)]
    assert missing == []


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name in dir(crs_sdk)
        if not name.startswith("_") and not isinstance(getattr(crs_sdk, name), types.ModuleType)
    }
    assert public == set(crs_sdk.__all__) - {"__version__"}


def test_public_objects_claim_the_package() -> None:
    # Users see crs_sdk.Report, never crs_sdk._models._reports.Report: everything public comes
    # from a private module and is re-exported here.
    for name in crs_sdk.__all__:
        obj = getattr(crs_sdk, name)
        if isinstance(obj, (type, types.FunctionType)):
            assert obj.__module__.startswith("crs_sdk."), name
            assert any(part.startswith("_") for part in obj.__module__.split(".")[1:]), name


def test_public_classes_have_docstrings() -> None:
    for name in crs_sdk.__all__:
        obj = getattr(crs_sdk, name)
        if isinstance(obj, type):
            assert obj.__doc__, name
            assert obj.__doc__ != type.__doc__, name


def test_version() -> None:
    assert isinstance(crs_sdk.__version__, str)
    assert "__version__" in crs_sdk.__all__


def _ruff_order(name: str) -> tuple[int, str]:
    """The order ruff (RUF022) keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[0].isupper():
        return (1, name)
    return (2, name)
