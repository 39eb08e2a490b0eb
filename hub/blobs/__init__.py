"""Blob storage: uploaded images, CSVs, export artifacts. Local directory or S3."""

from hub.blobs.base import BlobNotFound, Storage
from hub.blobs.factory import parse_storage_url, storage_from_url
from hub.blobs.local import LocalStorage
from hub.blobs.s3 import S3Storage

__all__ = [
    "BlobNotFound",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "parse_storage_url",
    "storage_from_url",
]
