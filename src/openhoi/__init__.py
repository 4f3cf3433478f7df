"""openhoi: human-object interaction detection and recognition with CLIP knowledge."""

__version__ = "0.1.0"
