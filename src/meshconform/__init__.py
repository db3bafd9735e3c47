"""meshconform: prove that a product really works inside an Istio mesh, in every mesh mode."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("meshconform")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
