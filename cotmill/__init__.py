"""cotmill: the command line and pipeline runner over datagen, verifiers, mixtures and train.

`from cotmill import Workspace` is the Python API (cotmill.api); it is imported on first
use, so `import cotmill` (which every CLI command does) stays cheap."""

__version__ = "0.1.0"

__all__ = ["Workspace", "__version__"]


def __getattr__(name: str):
    if name == "Workspace":
        from cotmill.api import Workspace

        return Workspace
    raise AttributeError(f"module 'cotmill' has no attribute {name!r}")
