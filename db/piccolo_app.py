"""Piccolo's app registration for the chats tables and their migrations."""

import os

from piccolo.conf.apps import AppConfig

from db.tables import TABLES

APP_CONFIG = AppConfig(
    app_name="chats",
    migrations_folder_path=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "piccolo_migrations"
    ),
    table_classes=list(TABLES),
    migration_dependencies=[],
    commands=[],
)
