"""A test plugin that implements a hook genchat does not define."""

from genchat import hookimpl


@hookimpl
def genchat_register_widgets() -> None:
    pass
