"""Blob storage: uploaded images, CSVs, export artifacts. Local directory or S3."""

from hub.storage.base import BlobNotFound, Storage
from hub.storage.local import LocalStorage

__all__ = ["BlobNotFound", "LocalStorage", "Storage"]
