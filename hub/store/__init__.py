from hub.store.db import Store
from hub.store.models import (
    ApiKey,
    Base,
    Job,
    JobLog,
    Organization,
    Plugin,
    StoredFile,
    User,
    utcnow,
)

__all__ = [
    "ApiKey",
    "Base",
    "Job",
    "JobLog",
    "Organization",
    "Plugin",
    "Store",
    "StoredFile",
    "User",
    "utcnow",
]
