"""The schema as numbered ``NNN_name.sql`` files: ``sqlite/`` (the coordinator's state) and
``duckdb/`` (the history). A package so that its files ship inside the wheel: the code finds
them with ``importlib.resources`` (``coordinator.migrate``, ``error_handling.migrate``)."""
