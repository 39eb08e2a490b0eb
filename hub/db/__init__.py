from hub.db.database import Store, json_text
from hub.db.tables import (
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
    iso_time,
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
    "iso_time",
    "json_text",
    "utcnow",
]
