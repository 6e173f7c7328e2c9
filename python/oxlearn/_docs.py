"""Docstrings of oxlearn estimators, derived from scikit-learn's."""

import re


def accelerated_doc(sklearn_cls, note):
    """Return ``sklearn_cls``'s docstring with an oxlearn note, without its Examples.

    scikit-learn's examples print values to the last digit of scikit-learn's
    own rounding; oxlearn's results agree to rounding, not to the bit, so
    the examples are left out rather than shown with outputs that differ.

    Parameters
    ----------
    sklearn_cls : type
        The scikit-learn estimator class.
    note : str
        What oxlearn accelerates and what falls back.

    Returns
    -------
    doc : str
    """
    doc = sklearn_cls.__doc__ or ""
    doc = re.split(r"\n\s*Examples\n\s*-{8}\n", doc)[0].rstrip() + "\n"
    summary, _, rest = doc.partition("\n")
    return f"{summary}\n\n    {note}\n{rest}"
