"""Blob storage: uploaded images, CSVs, export artifacts. Local directory or S3."""

from hub.storage.base import BlobNotFound, Storage
from hub.storage.factory import parse_storage_url, storage_from_url
from hub.storage.local import LocalStorage
from hub.storage.s3 import S3Storage

__all__ = [
    "BlobNotFound",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "parse_storage_url",
    "storage_from_url",
]
