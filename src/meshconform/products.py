"""Target products: each is a folder ``fixtures/products/<name>/`` with a ``product.yaml``."""

from __future__ import annotations

from meshconform import paths
from meshconform.errors import UsageError


def known_products() -> list[str]:
    """Names of the products the suite can install and check."""
    try:
        root = paths.fixtures_dir() / "products"
    except UsageError:
        return []
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "product.yaml").is_file())
