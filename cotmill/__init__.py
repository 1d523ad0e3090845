"""cotmill: the command line and pipeline runner over datagen, verifiers, mixtures and train.

`from cotmill import Workspace` is the Python API (cotmill.api), and the settings models its
methods take (`from cotmill import GRPOConfig`, ...) come from here too; each is imported on
first use, so `import cotmill` (which every CLI command does) stays cheap."""

__version__ = "0.1.0"

# the settings models each Workspace method (and CLI command, and pipeline stage) reads
_CONFIGS = {
    "GenerateConfig": "datagen.config",
    "VerifyConfig": "cotmill.config",
    "CurateConfig": "cotmill.config",
    "MixSpec": "mixtures.spec",
    "ExportConfig": "cotmill.config",
    "SFTConfig": "train.sft_config",
    "GRPOConfig": "train.grpo_config",
    "EvalConfig": "cotmill.config",
}

__all__ = ["Workspace", "__version__", *_CONFIGS]


def __getattr__(name: str):
    if name == "Workspace":
        from cotmill.api import Workspace

        return Workspace
    if name in _CONFIGS:
        import importlib

        return getattr(importlib.import_module(_CONFIGS[name]), name)
    raise AttributeError(f"module 'cotmill' has no attribute {name!r}")
