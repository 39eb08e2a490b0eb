from hub.store.db import Store
from hub.store.models import (
    ApiKey,
    Base,
    ConfigPreset,
    JobLog,
    JobRow,
    Organization,
    Plugin,
    PluginInstall,
    StoredFile,
    User,
    WebSession,
    utcnow,
)

__all__ = [
    "ApiKey",
    "Base",
    "ConfigPreset",
    "JobLog",
    "JobRow",
    "Organization",
    "Plugin",
    "PluginInstall",
    "Store",
    "StoredFile",
    "User",
    "WebSession",
    "utcnow",
]
