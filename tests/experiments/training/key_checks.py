"""A check shared by the tests of both cached-training configurations (CNNs and language models)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any


def assert_key_sensitive_to_every_field(base: Any, alternatives: dict[str, Any], key: Callable[[Any], str]) -> None:
    """Changing any one field of the configuration ``base`` (to ``alternatives[field]``) changes ``key``."""
    fields = [f.name for f in dataclasses.fields(base)]
    assert set(fields) == set(alternatives), f"update ALTERNATIVES for new {type(base).__name__} fields"
    keys = {key(base)}
    for name in fields:
        changed = dataclasses.replace(base, **{name: alternatives[name]})
        assert getattr(changed, name) != getattr(base, name)
        new = key(changed)
        assert new not in keys, f"changing {name} did not change the key"
        keys.add(new)
