"""Checks of the layers' constructor arguments, raised where the arguments enter.

Every error names the argument, the value received and what is allowed, as Keras's
own layers do: ``Received an invalid value for argument 'units', expected a positive
integer, got 0.``
"""

from __future__ import annotations

from keras import activations


def check_units(units):
    """Return `units` if it is a positive int, else raise a ValueError saying why."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument 'units', expected a positive "
            f"integer, got {units!r}."
        )
    return units


def get_activation(identifier, argument):
    """`keras.activations.get` with an error that names the argument."""
    try:
        fn = activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected the name of "
            "a Keras activation (e.g. 'tanh', 'sigmoid', 'relu', 'linear'), a callable "
            f"or None, got {identifier!r}."
        ) from error
    if fn is None:
        fn = activations.linear
    return fn


def check_rate(value, argument):
    """A dropout rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected a float in "
            f"[0, 1), got {value!r}."
        )
    return float(value)


def check_bool(value, argument):
    """`value` if it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(
            f"Received an invalid value for argument '{argument}', expected True or "
            f"False, got {value!r}."
        )
    return value


def check_choice(value, argument, allowed):
    """`value` if it is one of `allowed` (compared with ``==`` and by type, so that
    ``1`` does not pass for ``True``)."""
    for option in allowed:
        if type(value) is type(option) and value == option:
            return value
    raise ValueError(
        f"Received an invalid value for argument '{argument}', expected one of "
        f"{', '.join(repr(a) for a in allowed)}, got {value!r}."
    )


#: Keras's `implementation` values: 1 and 2 (Keras 3 and tf-keras), 0 (Keras 1 configs,
#: which Keras 3 still loads). The loop is the same for all of them.
IMPLEMENTATIONS = (0, 1, 2)

#: Keras's `use_cudnn` values (LSTM and GRU only).
USE_CUDNN = ("auto", True, False)
