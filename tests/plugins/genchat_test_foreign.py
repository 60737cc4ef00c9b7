"""A test plugin with ready-made profiles for a backend it does not register: one says so, one
names a backend that no plugin registers (a typo)."""

from genchat import RegisterProfile, hookimpl


@hookimpl
def genchat_register_profiles(register: RegisterProfile) -> None:
    register(
        "company-openai",
        backend="openai",
        foreign_backend=True,
        base_url="http://127.0.0.1:9/v1",
        model="company-model",
    )
    register("typo", backend="openaii", model="m")
