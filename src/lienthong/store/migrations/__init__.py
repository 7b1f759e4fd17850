"""Alembic environment and revisions of the lienthong store (see ``lienthong.store.migrate``)."""
