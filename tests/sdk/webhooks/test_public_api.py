"""The public face of crs_sdk.webhooks: a sorted __all__ that matches the package."""

from __future__ import annotations

import crs_sdk.webhooks


def test_all_is_sorted_and_complete() -> None:
    exported = crs_sdk.webhooks.__all__
    assert list(exported) == sorted(exported)
    public = {name for name in vars(crs_sdk.webhooks) if not name.startswith("_")}
    public -= {"annotations"}  # from __future__, if present
    assert set(exported) == public


def test_every_public_name_has_a_docstring() -> None:
    for name in crs_sdk.webhooks.__all__:
        value = getattr(crs_sdk.webhooks, name)
        if callable(value) and not name.isupper():
            assert (value.__doc__ or "").strip(), name
