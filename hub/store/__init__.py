from hub.store.db import Store
from hub.store.models import ApiKey, Base, Organization, Plugin, User, utcnow

__all__ = ["ApiKey", "Base", "Organization", "Plugin", "Store", "User", "utcnow"]
