"""The package's version, in a leaf module of its own: every floor may read it without importing
the package face (``semipose/__init__.py``)."""

__version__ = "0.5.0"
