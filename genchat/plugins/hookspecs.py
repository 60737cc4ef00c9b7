"""Every hook a genchat plugin can implement.

Plugins implement hooks with `genchat.hookimpl` and are found through the `genchat` entry-point
group. Hooks use the register-callback style: genchat passes a `register` function and the plugin
calls it, so genchat stays in charge of construction and knows which plugin gave what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from genchat.backends.base import Backend

PROJECT = "genchat"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    """Register backend types: call `register(BackendClass)` once for each.

    The class must subclass `genchat.Backend` and set a unique `name`. Do not import heavy
    libraries here; import them when the backend first loads a model or opens a connection.
    """


@hookspec
def genchat_register_profiles(register: Callable[..., None]) -> None:
    """Register ready-made profiles: `register(name, backend=..., params={...}, **options)`.

    A profile in the user's config file with the same name is merged over the registered one, key
    by key, so a user can change one option of a built-in profile without repeating the rest.
    """
