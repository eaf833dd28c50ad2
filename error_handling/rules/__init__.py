"""Default classification rules shipped as data (JSON), read by error_handling.classify."""
