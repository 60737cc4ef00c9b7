"""A test plugin whose registration hook raises."""

from collections.abc import Callable

from genchat import Backend, hookimpl


@hookimpl
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    raise RuntimeError("registration exploded")
