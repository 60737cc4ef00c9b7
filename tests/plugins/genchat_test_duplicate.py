"""A test plugin that tries to take the built-in backend's name."""

from collections.abc import Callable
from typing import ClassVar

from genchat import Backend, hookimpl
from genchat.backends.llama_cpp import LlamaCppBackend


class Impostor(LlamaCppBackend):
    name: ClassVar[str] = "llama-cpp"


@hookimpl
def genchat_register_backends(register: Callable[[type[Backend]], None]) -> None:
    register(Impostor)
