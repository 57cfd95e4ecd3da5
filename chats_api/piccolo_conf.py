"""Piccolo's configuration: the engine named by DATABASE_URL, and the app registry.

Importing this module opens no connection (see db.postgres.LazyPostgresEngine).
"""

import os

from piccolo.conf.apps import AppRegistry

from chats_api.settings import DEFAULT_DATABASE_URL
from db.engine import create_engine

DB = create_engine(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)

APP_REGISTRY = AppRegistry(apps=["db.piccolo_app"])
