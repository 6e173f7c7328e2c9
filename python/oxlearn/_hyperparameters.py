"""Process-level tuning knobs (never saved with a model)."""

_REGISTRY = {}


class Hyperparameters:
    """Tuning knobs of one estimator operation, read and set as attributes.

    Changing a knob changes speed and, at most, rounding: never the
    mathematical result. Knobs belong to the process, not to a model.
    """

    def __init__(self, owner, op, defaults):
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_op", op)
        object.__setattr__(self, "_defaults", dict(defaults))
        object.__setattr__(self, "_values", dict(defaults))

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(self._unknown(name)) from None

    def __setattr__(self, name, value):
        if name not in self._defaults:
            raise AttributeError(self._unknown(name))
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            raise ValueError(f"{name} must be a non-negative integer (0: automatic), got {value!r}")
        self._values[name] = value

    def _unknown(self, name):
        known = ", ".join(sorted(self._defaults))
        return f"{self._owner}.{self._op} has no hyperparameter {name!r}; known: {known}"

    def to_dict(self):
        """Return the current values as a dict."""
        return dict(self._values)

    def reset(self):
        """Restore the defaults."""
        self._values.clear()
        self._values.update(self._defaults)

    def __repr__(self):
        return f"Hyperparameters({self._owner}.{self._op}: {self._values})"


def get_hyperparameters(owner, op, specs):
    """Return the (shared, mutable) hyperparameters of ``owner``'s ``op``."""
    if op not in specs:
        raise ValueError(f"{owner} has no hyperparameters for {op!r}; known: {sorted(specs)}")
    key = (owner, op)
    if key not in _REGISTRY:
        _REGISTRY[key] = Hyperparameters(owner, op, specs[op])
    return _REGISTRY[key]
