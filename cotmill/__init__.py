"""cotmill: the command line and pipeline runner over datagen, verifiers, mixtures and train."""

__version__ = "0.1.0"
