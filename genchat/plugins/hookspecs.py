"""Every hook a genchat plugin can implement.

Plugins implement hooks with `genchat.hookimpl` and are found through the `genchat` entry-point
group. Hooks use the register-callback style: genchat passes a `register` function and the plugin
calls it, so genchat stays in charge of construction and knows which plugin gave what.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    from genchat.backends.base import Backend

PROJECT = "genchat"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class RegisterBackend(Protocol):
    """What `genchat_register_backends` is given: call it once with each backend class."""

    def __call__(self, backend: type[Backend], /) -> None: ...


class RegisterProfile(Protocol):
    """What `genchat_register_profiles` is given: `register(name, backend=..., **options)`.

    A plugin registers profiles for the backends it registers itself. A profile for another
    plugin's backend (a built-in one, say) must say so, with `foreign_backend=True`: it is
    refused otherwise, so that a typo in `backend` is not taken for someone else's backend.
    """

    def __call__(
        self, name: str, /, *, backend: str, foreign_backend: bool = False, **options: Any
    ) -> None: ...


@hookspec
def genchat_register_backends(register: RegisterBackend) -> None:
    """Register backend types: call `register(BackendClass)` once for each.

    The class must subclass `genchat.Backend` and set a unique `name`. Do not import heavy
    libraries here; import them when the backend first loads a model or opens a connection.
    """


@hookspec
def genchat_register_profiles(register: RegisterProfile) -> None:
    """Register ready-made profiles: `register(name, backend=..., params={...}, **options)`,
    for backends this plugin registers (see `RegisterProfile` for another plugin's).

    A profile in the user's config file with the same name is merged over the registered one, key
    by key, so a user can change one option of a built-in profile without repeating the rest.
    """
