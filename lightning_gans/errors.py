"""The two errors the ``lightning-gans`` command turns into one line instead of a traceback.

They live apart from the training code so that data modules, networks and weight loaders can raise them without
importing Lightning's training machinery.
"""


class UserInputError(ValueError):
    """A configuration or data problem the user can fix; the CLI prints it as one line and exits with code 2."""


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stops before the bad update touches the weights."""
