"""Test-session setup shared by every Python test."""

import os

# scikit-learn's array-API conformance check (numpy namespace) needs this set
# before scipy is imported; without it the check would be skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
