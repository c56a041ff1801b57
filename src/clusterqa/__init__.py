"""clusterqa: cited answers from a folder of documents, offline, in the terminal."""

__version__ = "0.1.0"
